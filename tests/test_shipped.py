"""The weight files that ship in weights/: each is checked against its sha256 in
weights/SHA256SUMS when loaded, with an error that says what happened and how to fix it."""

import hashlib
import shutil

import pytest
import torch

from hear_mixers import shipped
from hear_mixers.kwmlp import load_model
from hear_mixers.checkpoint import load_checkpoint
from hear_mixers.shipped import shipped_sums, weights_dir


def shipped_copy(tmp_path, monkeypatch, sums_text=None):
    """A weights folder in tmp_path that hear_mixers takes for its shipped one, holding a copy
    of kwmlp.pt and of SHA256SUMS (or `sums_text`)."""
    real = shipped.weights_dir()
    folder = tmp_path / "weights"
    folder.mkdir()
    shutil.copy(real / "kwmlp.pt", folder / "kwmlp.pt")
    if sums_text is None:
        shutil.copy(real / "SHA256SUMS", folder / "SHA256SUMS")
    elif sums_text is not False:
        (folder / "SHA256SUMS").write_text(sums_text)
    monkeypatch.setattr(shipped, "weights_dir", lambda: folder)
    return folder


def corrupt(path, offset=-100):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_intact_shipped_copy_loads(tmp_path, monkeypatch):
    shipped_copy(tmp_path, monkeypatch)
    assert load_model().depths == [12]


def test_corrupted_shipped_file_is_refused_with_both_hashes(tmp_path, monkeypatch):
    folder = shipped_copy(tmp_path, monkeypatch)
    expected = hashlib.sha256((folder / "kwmlp.pt").read_bytes()).hexdigest()
    corrupt(folder / "kwmlp.pt")
    actual = hashlib.sha256((folder / "kwmlp.pt").read_bytes()).hexdigest()
    pattern = (
        rf"kwmlp\.pt: sha256 check failed.*expected {expected}, got {actual}.*corrupted"
        r".*reinstall hear_mixers.*sha256sum \*\.pt > SHA256SUMS"
    )
    with pytest.raises(ValueError, match=pattern):
        load_model()  # the default path
    with pytest.raises(ValueError, match=pattern):
        load_checkpoint(folder / "kwmlp.pt")  # an explicit path into the folder
    with pytest.raises(ValueError, match=pattern):
        load_model(str(folder / ".." / "weights" / "kwmlp.pt"))  # another spelling of it


def test_corruption_the_zip_reader_misses_is_still_caught(tmp_path, monkeypatch):
    """Flip a byte inside a stored tensor: torch.load reads it without complaint, the
    checksum does not."""
    folder = shipped_copy(tmp_path, monkeypatch)
    data = (folder / "kwmlp.pt").read_bytes()
    corrupt(folder / "kwmlp.pt", offset=len(data) // 2)
    torch.load(folder / "kwmlp.pt", weights_only=True)  # still loads as a zip
    with pytest.raises(ValueError, match="sha256 check failed"):
        load_model()


@pytest.mark.parametrize("sums_text", [False, "", "0" * 64 + "  other.pt\n"])
def test_shipped_file_without_an_entry_is_refused(tmp_path, monkeypatch, sums_text):
    shipped_copy(tmp_path, monkeypatch, sums_text)
    with pytest.raises(ValueError, match=r"expected an entry in .*SHA256SUMS \(none found\)"):
        load_model()


def test_binary_mode_entries_and_comments_are_read(tmp_path, monkeypatch):
    digest = hashlib.sha256(open(weights_dir() / "kwmlp.pt", "rb").read()).hexdigest()
    shipped_copy(tmp_path, monkeypatch, f"# made by sha256sum -b\n\n{digest.upper()} *kwmlp.pt\n")
    assert load_model().depths == [12]


def test_malformed_sums_line_is_named(tmp_path, monkeypatch):
    shipped_copy(tmp_path, monkeypatch, "justonetoken\n")
    with pytest.raises(ValueError, match=r"SHA256SUMS, line 1: expected '<sha256>  <file name>'"):
        load_model()


def test_files_outside_the_weights_folder_are_not_checked(tmp_path, monkeypatch):
    folder = shipped_copy(tmp_path, monkeypatch, "0" * 64 + "  kwmlp.pt\n")  # a wrong sum
    outside = tmp_path / "mine"
    outside.mkdir()
    shutil.copy(folder / "kwmlp.pt", outside / "kwmlp.pt")
    assert load_model(outside / "kwmlp.pt").depths == [12]
    with pytest.raises(ValueError, match="sha256 check failed"):
        load_model(folder / "kwmlp.pt")


def test_every_shipped_weight_file_is_in_sha256sums():
    folder = weights_dir()
    sums = shipped_sums(folder)
    fix = f"cd {folder} && sha256sum *.pt > SHA256SUMS"
    files = sorted(folder.glob("*.pt"))
    assert files, f"no *.pt in {folder}"
    for path in files:
        assert path.name in sums, f"{path.name} has no line in SHA256SUMS; run: {fix}"
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        assert sums[path.name] == actual, f"SHA256SUMS is stale for {path.name}; run: {fix}"
    stale = sorted(set(sums) - {p.name for p in files})
    assert not stale, f"SHA256SUMS lists files that are not there: {stale}; run: {fix}"
