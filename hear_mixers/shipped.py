"""The weight files that ship with hear_mixers, and their integrity check.

Every file in the weights folder is checked at load against its sha256 in
`weights/SHA256SUMS` (`sha256sum` format); files anywhere else are not checked.
"""

import hashlib
from pathlib import Path

SUMS_FILE = "SHA256SUMS"  # in the weights folder: "<sha256>  <file name>" per line


def weights_dir() -> Path:
    """`hear_mixers/weights` once installed; the repository's `weights/` in a checkout."""
    installed = Path(__file__).parent / "weights"
    return installed if installed.is_dir() else Path(__file__).parent.parent / "weights"


def shipped_weights(name: str) -> Path:
    """The path of a weight file that ships in `weights/`; a clear error when it is missing."""
    path = weights_dir() / name
    if not path.is_file():
        raise FileNotFoundError(
            f"the shipped weights {path} are not there: this installation lacks the weights/ "
            "files of hear_mixers. Reinstall it with a plain `pip install .` from a checkout, "
            "rebuild them (training/README.md), or pass a checkpoint: "
            "load_model('path/to/checkpoint.pt') (hear-validator and heareval: --model PATH)"
        )
    return path


def sha256_file(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def shipped_sums(folder=None) -> dict:
    """File name -> sha256 from `SHA256SUMS` in the weights folder; {} when it is missing."""
    sums = Path(folder or weights_dir()) / SUMS_FILE
    if not sums.is_file():
        return {}
    entries = {}
    for number, line in enumerate(sums.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2:
            raise ValueError(
                f"{sums}, line {number}: expected '<sha256>  <file name>', got {line!r}"
            )
        digest, name = parts
        entries[name.strip().lstrip("*")] = digest.lower()  # "*name": sha256sum's binary mode
    return entries


def is_shipped(path) -> bool:
    """Whether `path` lies in the weights folder that ships with hear_mixers."""
    return Path(path).resolve().parent == weights_dir().resolve()


def verify_shipped(path) -> None:
    """Refuse a shipped weight file whose sha256 is not the one in SHA256SUMS."""
    path = Path(path)
    if not is_shipped(path):
        return
    folder = weights_dir()
    expected = shipped_sums(folder).get(path.name)
    actual = sha256_file(path)
    if expected == actual:
        return
    raise ValueError(
        f"{path}: sha256 check failed for a shipped weight file: expected "
        f"{expected or f'an entry in {folder / SUMS_FILE} (none found)'}, got {actual}. "
        "The file is corrupted or was replaced: reinstall hear_mixers (`pip install "
        "--force-reinstall .` from a checkout) or rebuild the weights (training/README.md); "
        f"after rebuilding or retraining, update the sums: cd {folder} && sha256sum *.pt > "
        f"{SUMS_FILE}"
    )
