import collections
import dataclasses
import hashlib
import shutil

import numpy as np
import pytest
import torch

from hear_mixers import load_model
from hear_mixers.checkpoint import load_checkpoint, save_checkpoint, shipped_sums, weights_dir
from hear_mixers.models.kwmlp import KWMLP, KWMLPConfig
from conftest import random_kwmlp


def published_state_dict(model: KWMLP) -> dict:
    """`model`'s weights under the key names and shapes of the published kwmlp file."""
    sd = {"to_patch_embed.1.weight": model.stem.weight, "to_patch_embed.1.bias": model.stem.bias}
    for i, b in enumerate(model.blocks):
        pre = f"layers.{i}.fn."
        for name, t in [
            ("norm.weight", b.norm.weight), ("norm.bias", b.norm.bias),
            ("fn.proj_in.0.weight", b.proj_in.weight), ("fn.proj_in.0.bias", b.proj_in.bias),
            ("fn.sgu.norm.weight", b.sgu.norm.weight), ("fn.sgu.norm.bias", b.sgu.norm.bias),
            ("fn.sgu.proj.weight", b.sgu.proj.weight[:, :, None]),  # Conv1d(98, 98, 1)
            ("fn.sgu.proj.bias", b.sgu.proj.bias),
            ("fn.proj_out.weight", b.proj_out.weight), ("fn.proj_out.bias", b.proj_out.bias),
        ]:
            sd[pre + name] = t
    sd.update({
        "to_logits.0.weight": model.norm.weight, "to_logits.0.bias": model.norm.bias,
        "to_logits.2.weight": model.head.weight, "to_logits.2.bias": model.head.bias,
    })
    return collections.OrderedDict((k, v.detach().clone()) for k, v in sd.items())


def test_own_format_round_trip(tmp_path):
    model = random_kwmlp(seed=3)
    save_checkpoint(model, tmp_path / "m.pt", trained=False, recipe="test")
    loaded, meta = load_checkpoint(tmp_path / "m.pt")
    assert meta == {"trained": False, "recipe": "test"}
    assert loaded.cfg == model.cfg and not loaded.training
    audio = torch.randn(2, 16000)
    assert torch.equal(loaded(audio), model(audio))
    raw = torch.load(tmp_path / "m.pt", weights_only=True)  # plain data only
    assert raw["format"] == "hear_mixers" and raw["config"]["frontend"]["n_mfcc"] == 40


def test_config_travels_with_the_checkpoint(tmp_path):
    model = random_kwmlp(depth=5, dim=32)
    save_checkpoint(model, tmp_path / "small.pt")
    assert load_model(tmp_path / "small.pt").timestamp_embedding_size == 32
    assert load_checkpoint(tmp_path / "small.pt")[0].cfg.depth == 5


def test_published_kwmlp_format_loads_with_its_key_names(tmp_path):
    model = random_kwmlp(seed=4)
    sd = published_state_dict(model)
    assert sd["layers.0.fn.fn.sgu.proj.weight"].shape == (98, 98, 1)
    assert sum(v.numel() for v in sd.values()) == 424_811
    torch.save({"model_state_dict": sd}, tmp_path / "kwmlp.pt")
    loaded, meta = load_checkpoint(tmp_path / "kwmlp.pt")
    assert meta["trained"] is True and "kwmlp" in meta["source"]
    audio = torch.randn(2, 16000)
    assert torch.equal(loaded(audio), model(audio))
    torch.save(sd, tmp_path / "bare.pt")  # a bare state dict with the original names
    assert torch.equal(load_checkpoint(tmp_path / "bare.pt")[0](audio), model(audio))


def test_published_format_with_a_foreign_key_is_refused(tmp_path):
    sd = published_state_dict(random_kwmlp())
    sd["layers.0.fn.fn.extra.weight"] = torch.zeros(1)
    torch.save({"model_state_dict": sd}, tmp_path / "odd.pt")
    with pytest.raises(ValueError, match="unexpected key 'layers.0.fn.fn.extra.weight'"):
        load_checkpoint(tmp_path / "odd.pt")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        load_model(tmp_path / "nope.pt")


def test_not_a_torch_file(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"definitely not a checkpoint")
    with pytest.raises(ValueError, match="not a readable torch checkpoint"):
        load_model(tmp_path / "junk.pt")


def test_truncated_file(tmp_path, checkpoint):
    data = open(checkpoint, "rb").read()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable torch checkpoint"):
        load_model(tmp_path / "cut.pt")


class Payload:
    def __reduce__(self):
        return (print, ("unpickled arbitrary code",))


def test_arbitrary_objects_are_never_unpickled(tmp_path, capsys):
    torch.save({"format": "hear_mixers", "payload": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="refused to load"):
        load_model(tmp_path / "evil.pt")
    assert "unpickled" not in capsys.readouterr().out


def test_wrong_architecture_is_refused(tmp_path):
    model = random_kwmlp()
    bad = {
        "format": "hear_mixers", "version": 1, "arch": "kwmlp",
        "config": dataclasses.asdict(KWMLPConfig(dim=32)),  # config says 32 wide
        "state_dict": model.state_dict(),  # weights are 64 wide
        "meta": {},
    }
    torch.save(bad, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="do not fit KWMLP"):
        load_model(tmp_path / "bad.pt")


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("arch", "transformer", "unknown architecture 'transformer'"),
        ("version", 99, "version 99 is not supported"),
        ("config", {"dim": 64, "heads": 4}, "unknown KWMLPConfig fields"),
        ("config", {"dim": "64"}, "KWMLPConfig.dim must be int"),
    ],
)
def test_bad_header_fields_are_named(tmp_path, field, value, message):
    obj = {
        "format": "hear_mixers", "version": 1, "arch": "kwmlp",
        "config": dataclasses.asdict(KWMLPConfig()),
        "state_dict": random_kwmlp().state_dict(), "meta": {},
    }
    obj[field] = value
    torch.save(obj, tmp_path / "x.pt")
    with pytest.raises(ValueError, match=message):
        load_model(tmp_path / "x.pt")


def test_unknown_dict_layout(tmp_path):
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a hear_mixers checkpoint"):
        load_model(tmp_path / "other.pt")


@pytest.mark.parametrize(
    "meta", [{"v": torch.__version__}, {"x": np.float32(1.0)}, {"t": torch.ones(1)}, {1: "a"}]
)
def test_metadata_that_would_not_load_back_is_refused_at_save(tmp_path, meta):
    with pytest.raises(TypeError, match="meta"):
        save_checkpoint(random_kwmlp(), tmp_path / "m.pt", **{"info": meta})


# ---- more refused files ------------------------------------------------------------------


class WritesAFile:
    """A pickle payload with a visible side effect: unpickling it creates `marker`."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("layout", ["top-level", "published", "own"])
def test_a_malicious_reduce_is_refused_and_never_runs(tmp_path, layout):
    payload = WritesAFile(tmp_path / "pwned")
    obj = {
        "top-level": payload,
        "published": {"model_state_dict": {"to_patch_embed.1.weight": payload}},
        "own": {"format": "hear_mixers", "version": 1, "arch": "kwmlp", "meta": {"x": payload}},
    }[layout]
    torch.save(obj, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="refused to load.*only weights_only checkpoints"):
        load_model(tmp_path / "evil.pt")
    assert not (tmp_path / "pwned").exists()
    # the file is armed: a plain pickle load would have run the payload
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    "write, message",
    [
        (lambda p: p.write_bytes(b""), "not a torch.save zip file"),
        (lambda p: np.savez(open(p, "wb"), a=np.zeros(3)), "not a readable torch checkpoint"),
        (lambda p: torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), p), "TorchScript"),
        (lambda p: torch.save(torch.zeros(3), p), "expected a dict checkpoint, got Tensor"),
        (lambda p: torch.save([1, 2], p), "expected a dict checkpoint, got list"),
    ],
    ids=["empty", "numpy-zip", "torchscript", "tensor", "list"],
)
@pytest.mark.filterwarnings("ignore")  # torch.jit deprecation and TorchScript dispatch notes
def test_foreign_files_are_refused_with_the_reason(tmp_path, write, message):
    write(tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match=message):
        load_model(tmp_path / "foreign.pt")


@pytest.mark.parametrize("version", [0, "1", None, 1.0])
def test_versions_that_are_not_supported_ints_are_named(tmp_path, version):
    obj = {
        "format": "hear_mixers", "version": version, "arch": "kwmlp",
        "config": dataclasses.asdict(KWMLPConfig()), "state_dict": {}, "meta": {},
    }
    torch.save(obj, tmp_path / "v.pt")
    with pytest.raises(ValueError, match=f"version {version!r} is not supported"):
        load_model(tmp_path / "v.pt")


def test_missing_weights_are_named(tmp_path):
    state = random_kwmlp().state_dict()
    del state["blocks.3.sgu.proj.weight"]
    obj = {
        "format": "hear_mixers", "version": 1, "arch": "kwmlp",
        "config": dataclasses.asdict(KWMLPConfig()), "state_dict": state, "meta": {},
    }
    torch.save(obj, tmp_path / "partial.pt")
    missing = r"(?s)do not fit KWMLP.*Missing key.*blocks\.3\.sgu\.proj\.weight"
    with pytest.raises(ValueError, match=missing):
        load_model(tmp_path / "partial.pt")


def test_published_format_with_other_mfcc_count_is_refused(tmp_path):
    sd = published_state_dict(random_kwmlp())
    sd["to_patch_embed.1.weight"] = sd["to_patch_embed.1.weight"][:, :20]
    torch.save({"model_state_dict": sd}, tmp_path / "mfcc20.pt")
    with pytest.raises(ValueError, match="expects 20 MFCCs"):
        load_model(tmp_path / "mfcc20.pt")


# ---- sha256 of the shipped weights -------------------------------------------------------


def shipped_copy(tmp_path, monkeypatch, sums_text=None):
    """A weights folder in tmp_path that hear_mixers takes for its shipped one, holding a copy
    of kwmlp.pt and of SHA256SUMS (or `sums_text`)."""
    from hear_mixers import api, checkpoint as ckpt

    real = ckpt.weights_dir()
    folder = tmp_path / "weights"
    folder.mkdir()
    shutil.copy(real / "kwmlp.pt", folder / "kwmlp.pt")
    if sums_text is None:
        shutil.copy(real / "SHA256SUMS", folder / "SHA256SUMS")
    elif sums_text is not False:
        (folder / "SHA256SUMS").write_text(sums_text)
    monkeypatch.setattr(ckpt, "weights_dir", lambda: folder)
    monkeypatch.setattr(api, "weights_dir", lambda: folder)
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


def test_weights_dir_is_one_function():
    import hear_mixers.api
    import hear_mixers.checkpoint

    assert hear_mixers.api.weights_dir is hear_mixers.checkpoint.weights_dir
    assert (weights_dir() / "SHA256SUMS").is_file()
