import dataclasses

import numpy as np
import pytest
import torch

from hear_mixers import load_model
from hear_mixers.checkpoint import load_checkpoint, save_checkpoint
from hear_mixers.models.kwmlp import KWMLPConfig
from conftest import random_kwmlp


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
