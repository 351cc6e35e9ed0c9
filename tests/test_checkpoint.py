import collections
import dataclasses

import numpy as np
import pytest
import torch

from hear_mixers import load_model
from hear_mixers.checkpoint import load_checkpoint, save_checkpoint
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
