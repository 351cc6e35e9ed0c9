"""Checkpoints that rebuild their model alone, and the published kwmlp checkpoint format.

A hear_mixers checkpoint is a `torch.save` of plain data only (loads with
`weights_only=True`): {"format": "hear_mixers", "version": 1, "arch": "kwmlp",
"config": {...nested config dict...}, "state_dict": {...}, "meta": {...}}.

Shipped weights: every file in the weights folder is checked at load against its sha256 in
`weights/SHA256SUMS` (`sha256sum` format); files anywhere else are not checked.
"""

import dataclasses
import hashlib
import pickle
import re
import typing
import zipfile
from pathlib import Path

import torch
from torch import nn

from hear_mixers.models.asm import ASM, ASMConfig
from hear_mixers.models.kwmlp import KWMLP, KWMLPConfig

FORMAT = "hear_mixers"
VERSION = 1
ARCHS = {"kwmlp": (KWMLPConfig, KWMLP), "asm": (ASMConfig, ASM)}  # arch name -> (config class, model class)
SUMS_FILE = "SHA256SUMS"  # in the weights folder: "<sha256>  <file name>" per line


def weights_dir() -> Path:
    """`hear_mixers/weights` once installed; the repository's `weights/` in a checkout."""
    installed = Path(__file__).parent / "weights"
    return installed if installed.is_dir() else Path(__file__).parent.parent / "weights"


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
        "--force-reinstall .` from a checkout) or rebuild the weights (training/recipe_*.sh); "
        f"after rebuilding or retraining, update the sums: cd {folder} && sha256sum *.pt > "
        f"{SUMS_FILE}"
    )


def config_to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def config_from_dict(cls, data: dict):
    """Rebuild a (nested) frozen config dataclass; unknown or mistyped fields are errors."""
    if not isinstance(data, dict):
        raise ValueError(f"config for {cls.__name__} must be a dict, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields in checkpoint config: {unknown}")
    kwargs = {}
    for name, value in data.items():
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            value = config_from_dict(kind, value)
        elif kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif not isinstance(value, kind) or isinstance(value, bool) != (kind is bool):
            raise ValueError(f"{cls.__name__}.{name} must be {kind.__name__}, got {value!r}")
        kwargs[name] = value
    return cls(**kwargs)


def save_checkpoint(model: nn.Module, path, **meta) -> None:
    """Write `model` with its config; `meta` holds provenance (plain data only)."""
    _check_plain(meta, "meta")
    torch.save(
        {
            "format": FORMAT,
            "version": VERSION,
            "arch": model.arch,
            "config": config_to_dict(model.cfg),
            "state_dict": model.state_dict(),
            "meta": meta,
        },
        path,
    )


_PLAIN = (str, int, float, bool, type(None))


def _check_plain(value, where: str) -> None:
    """Refuse what `weights_only=True` could not read back (numpy scalars, str subclasses...)."""
    if type(value) in (dict, list, tuple):  # exact types: no subclasses
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(value, dict) and type(key) is not str:
                raise TypeError(f"{where}: key {key!r} is not a str")
            _check_plain(item, f"{where}[{key!r}]")
    elif type(value) not in _PLAIN:
        raise TypeError(f"{where} is a {type(value).__name__}; checkpoint metadata must be plain data")


def load_checkpoint(path) -> tuple[nn.Module, dict]:
    """Read a checkpoint file (ours, or the published kwmlp one) -> (model in eval mode, meta)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    verify_shipped(path)
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive (torch >= 1.6)
        raise ValueError(f"{path} is not a readable torch checkpoint: not a torch.save zip file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise ValueError(
            f"{path}: refused to load, it holds objects other than tensors and plain "
            f"containers (only weights_only checkpoints are read): {_first_line(e)}"
        ) from None
    except Exception as e:  # truncated zip, not a torch file at all, ...
        reason = _first_line(e)
        if "TorchScript" in str(e):
            reason = "it is a TorchScript archive (torch.jit.save); save a state dict instead"
        raise ValueError(f"{path} is not a readable torch checkpoint: {reason}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a dict checkpoint, got {type(obj).__name__}")

    if obj.get("format") == FORMAT:
        return _from_own(obj, path)
    if "model_state_dict" in obj:  # published kwmlp: {"model_state_dict": ...}
        return _from_kwmlp(obj["model_state_dict"], path)
    if any(isinstance(k, str) and k.startswith("to_patch_embed.") for k in obj):
        return _from_kwmlp(obj, path)  # a bare state dict with the original key names
    raise ValueError(
        f"{path}: not a hear_mixers checkpoint (no 'format': 'hear_mixers') nor a kwmlp "
        f"checkpoint (no 'model_state_dict'); top-level keys: {sorted(map(str, obj))[:8]}"
    )


def _first_line(error: Exception) -> str:
    """The line of a torch.load error that says what went wrong."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    reason = [line for line in lines if "Unsupported" in line]
    return (reason or lines or [type(error).__name__])[0]


def _from_own(obj: dict, path: Path) -> tuple[nn.Module, dict]:
    version = obj.get("version")
    if not isinstance(version, int) or not 1 <= version <= VERSION:
        raise ValueError(
            f"{path}: checkpoint format version {version!r} is not supported by this "
            f"hear_mixers (reads versions 1..{VERSION}); upgrade hear_mixers"
        )
    arch = obj.get("arch")
    if arch not in ARCHS:
        raise ValueError(f"{path}: unknown architecture {arch!r}; known: {sorted(ARCHS)}")
    cfg_cls, model_cls = ARCHS[arch]
    try:
        cfg = config_from_dict(cfg_cls, obj.get("config"))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: bad {arch} config: {e}") from None
    model = _build_strict(model_cls, cfg, obj.get("state_dict"), path)
    meta = obj.get("meta")
    return model, dict(meta) if isinstance(meta, dict) else {}


# published key -> our key; the SGU projection was a Conv1d(98, 98, 1), ours is a Linear
_KWMLP_KEYS = [
    (r"to_patch_embed\.1\.", "stem."),
    (r"layers\.(\d+)\.fn\.norm\.", r"blocks.\1.norm."),
    (r"layers\.(\d+)\.fn\.fn\.proj_in\.0\.", r"blocks.\1.proj_in."),
    (r"layers\.(\d+)\.fn\.fn\.sgu\.", r"blocks.\1.sgu."),
    (r"layers\.(\d+)\.fn\.fn\.proj_out\.", r"blocks.\1.proj_out."),
    (r"to_logits\.0\.", "norm."),
    (r"to_logits\.2\.", "head."),
]


def _from_kwmlp(state: dict, path: Path) -> tuple[nn.Module, dict]:
    """Rename the original kwmlp keys and infer the config from the tensor shapes."""
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: 'model_state_dict' is not a dict of tensors")
    renamed = {}
    for key, value in state.items():
        for pattern, repl in _KWMLP_KEYS:
            new, hits = re.subn("^" + pattern, repl, key)
            if hits:
                break
        else:
            raise ValueError(f"{path}: unexpected key {key!r} for a kwmlp checkpoint")
        if new.endswith("sgu.proj.weight") and value.ndim == 3:
            value = value.squeeze(-1)  # (98, 98, 1) -> (98, 98)
        renamed[new] = value
    try:
        dim, n_mfcc = renamed["stem.weight"].shape
        cfg = KWMLPConfig(
            num_frames=renamed["blocks.0.sgu.proj.weight"].shape[0],
            dim=dim,
            depth=1 + max(int(k.split(".")[1]) for k in renamed if k.startswith("blocks.")),
            ff_mult=renamed["blocks.0.proj_in.weight"].shape[0] // dim,
            num_classes=renamed["head.weight"].shape[0],
        )
    except (KeyError, ValueError, IndexError) as e:
        raise ValueError(f"{path}: incomplete kwmlp state dict ({e!r} missing)") from None
    if n_mfcc != cfg.frontend.n_mfcc:
        raise ValueError(f"{path}: kwmlp patch embedding expects {n_mfcc} MFCCs, not 40")
    model = _build_strict(KWMLP, cfg, renamed, path)
    return model, {"source": "published kwmlp checkpoint (weights CC BY-SA 4.0)", "trained": True}


def _build_strict(model_cls, cfg, state_dict, path: Path) -> nn.Module:
    if not isinstance(state_dict, dict):
        raise ValueError(f"{path}: checkpoint has no state_dict")
    model = model_cls(cfg)
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as e:
        raise ValueError(
            f"{path}: weights do not fit {model_cls.__name__} with config {cfg}: {e}"
        ) from None
    return model.eval()
