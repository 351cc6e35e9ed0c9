"""The published kwmlp checkpoint, written from the original file's key names and shapes.

The HEAR 2021 `kwmlp` weights are a `torch.save` of {"model_state_dict": ...} whose keys come
from the Keyword-MLP code, not from hear_mixers. This fixture writes such a file by hand from
those names and the shapes the original config gives them (dim 64, hidden 256, 98 tokens,
40 MFCC, 35 classes, 12 blocks), fills it with random values, and reads it through the public
`hear_mixers.load_model` only. The embeddings are checked against a forward pass written here
from the published tensors themselves (librosa MFCCs, then the blocks by their published
names), so the test does not share the loader's key map, nor its model code.
"""

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import hear_mixers

librosa = pytest.importorskip("librosa")

DIM, HIDDEN, TOKENS, N_MFCC, CLASSES, BLOCKS = 64, 256, 98, 40, 35, 12
PUBLISHED_PARAMETERS = 424_811  # the published model's parameter count, head included
# embeddings of a one-second clip: ours (float32, our MFCC) against the float64 reference on
# librosa's MFCC (within 1e-3 of ours, test_frontend.py). Measured here: max difference
# 2e-5 to 3e-5 over three seeds, on values up to ~60; a transposed SGU projection: 9 to 11
ATOL = 2e-3


def published_shapes() -> dict:
    """Key -> shape of the original `model_state_dict`, in the original module order."""
    shapes = {
        "to_patch_embed.1.weight": (DIM, N_MFCC),  # Rearrange, then Linear(40 -> 64)
        "to_patch_embed.1.bias": (DIM,),
    }
    for i in range(BLOCKS):
        block = f"layers.{i}.fn."  # Residual(PostNorm(dim, gMLPBlock)): .fn.fn is the block
        shapes.update({
            block + "norm.weight": (DIM,),  # the post-norm LayerNorm(64)
            block + "norm.bias": (DIM,),
            block + "fn.proj_in.0.weight": (HIDDEN, DIM),  # Sequential(Linear, GELU)
            block + "fn.proj_in.0.bias": (HIDDEN,),
            block + "fn.sgu.norm.weight": (HIDDEN // 2,),  # LayerNorm(128) on the gate half
            block + "fn.sgu.norm.bias": (HIDDEN // 2,),
            block + "fn.sgu.proj.weight": (TOKENS, TOKENS, 1),  # Conv1d(98, 98, 1) over tokens
            block + "fn.sgu.proj.bias": (TOKENS,),
            block + "fn.proj_out.weight": (DIM, HIDDEN // 2),  # Linear(128 -> 64)
            block + "fn.proj_out.bias": (DIM,),
        })
    shapes.update({
        "to_logits.0.weight": (DIM,),  # final LayerNorm(64)
        "to_logits.0.bias": (DIM,),
        "to_logits.2.weight": (CLASSES, DIM),  # (1: mean over tokens) Linear(64 -> 35)
        "to_logits.2.bias": (CLASSES,),
    })
    return shapes


def random_published_state(seed: int = 0) -> dict:
    """Random tensors of the published shapes, scaled so that every part matters: norms
    around 1, the SGU bias around 1 (as initialised) with a token mixing that is not tiny."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in published_shapes().items():
        noise = torch.randn(shape, generator=gen)
        if "norm" in key or "to_logits.0" in key:
            value = 1 + 0.2 * noise if key.endswith("weight") else 0.2 * noise
        elif key.endswith("sgu.proj.bias"):
            value = 1 + 0.2 * noise
        elif key.endswith("weight"):
            value = noise / shape[1] ** 0.5  # fan-in scaling; the SGU's (98, 98, 1) included
        else:
            value = 0.1 * noise
        state[key] = value
    return state


def reference_embeddings(state: dict, clip: np.ndarray, depths: list) -> torch.Tensor:
    """(samples,) one second of audio -> (98, 64 * len(depths)), float64, from the published
    tensors by their own names."""
    p = {k: v.double() for k, v in state.items()}
    mfcc = librosa.feature.mfcc(
        y=clip, sr=16000, n_mfcc=N_MFCC, n_mels=40, n_fft=480, win_length=480,
        hop_length=160, center=False,
    )  # (40, 98)
    x = torch.from_numpy(mfcc.T.astype(np.float64))  # (98, 40): one token per frame
    x = x @ p["to_patch_embed.1.weight"].T + p["to_patch_embed.1.bias"]  # (98, 64)
    out = []
    for i in range(1, BLOCKS + 1):
        b = f"layers.{i - 1}.fn."
        h = F.gelu(x @ p[b + "fn.proj_in.0.weight"].T + p[b + "fn.proj_in.0.bias"])  # (98, 256)
        res, gate = h[:, : HIDDEN // 2], h[:, HIDDEN // 2 :]  # 2 x (98, 128)
        gate = F.layer_norm(gate, (HIDDEN // 2,), p[b + "fn.sgu.norm.weight"], p[b + "fn.sgu.norm.bias"])
        # Conv1d(98, 98, 1) with tokens as channels: out[t] = sum_s W[t, s, 0] in[s] + bias[t]
        gate = p[b + "fn.sgu.proj.weight"][:, :, 0] @ gate + p[b + "fn.sgu.proj.bias"][:, None]
        y = (res * gate) @ p[b + "fn.proj_out.weight"].T + p[b + "fn.proj_out.bias"]  # (98, 64)
        x = x + F.layer_norm(y, (DIM,), p[b + "norm.weight"], p[b + "norm.bias"])
        if i in depths:  # the last block's embedding passes the trained final LayerNorm
            final = (p["to_logits.0.weight"], p["to_logits.0.bias"]) if i == BLOCKS else None
            out.append((i, F.layer_norm(x, (DIM,), *final) if final else x))
    by_depth = dict(out)
    return torch.cat([by_depth[d] for d in depths], dim=-1)


def write_published(path, state: dict) -> str:
    torch.save({"model_state_dict": state}, path)
    return str(path)


def one_second_clip(seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(16000) / 16000
    clip = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(16000)
    return clip.astype(np.float32)


def test_fixture_matches_the_published_parameter_count():
    shapes = published_shapes()
    assert sum(int(np.prod(s)) for s in shapes.values()) == PUBLISHED_PARAMETERS
    assert len(shapes) == 2 + 10 * BLOCKS + 4  # patch embedding, blocks, norm and head


def test_published_file_embeds_as_its_own_tensors_say(tmp_path):
    state = random_published_state()
    path = write_published(tmp_path / "kwmlp_published.pt", state)
    depths = [1, 6, 12]
    model = hear_mixers.load_model(path, depth=depths)
    assert (model.sample_rate, model.timestamp_embedding_size) == (16000, DIM * len(depths))

    clip = one_second_clip()
    emb, ts = hear_mixers.get_timestamp_embeddings(torch.from_numpy(clip)[None], model)
    ref = reference_embeddings(state, clip, depths)  # (98, 192)
    assert emb.shape == (1, TOKENS, DIM * len(depths)) and ts.shape == (1, TOKENS)
    assert emb.dtype == torch.float32
    diff = (emb[0].double() - ref).abs().max().item()
    assert diff < ATOL, f"max |ours - reference| = {diff:.3g}"

    # the check has teeth: the likeliest mapping slip, a transposed SGU projection, moves the
    # embeddings far beyond the tolerance
    flipped = dict(state)
    for i in range(BLOCKS):
        key = f"layers.{i}.fn.fn.sgu.proj.weight"
        flipped[key] = state[key].transpose(0, 1)
    wrong = reference_embeddings(flipped, clip, depths)
    assert (emb[0].double() - wrong).abs().max().item() > 100 * ATOL


def test_each_published_tensor_reaches_the_embedding(tmp_path):
    """Changing one published tensor changes the depth-1 embedding exactly when that tensor
    belongs to the patch embedding or block 1 (blocks after the requested depth are not run;
    the final norm and head do not enter a depth-1 embedding)."""
    state = random_published_state(seed=2)
    clip = torch.from_numpy(one_second_clip())[None]
    base = hear_mixers.get_timestamp_embeddings(
        clip, hear_mixers.load_model(write_published(tmp_path / "base.pt", state), depth=1)
    )[0]
    for key in ["to_patch_embed.1.bias", "layers.0.fn.fn.sgu.proj.weight", "layers.0.fn.norm.bias",
                "layers.1.fn.fn.proj_in.0.weight", "to_logits.0.weight", "to_logits.2.bias"]:
        changed = dict(state)
        changed[key] = state[key] + 0.5
        emb = hear_mixers.get_timestamp_embeddings(
            clip, hear_mixers.load_model(write_published(tmp_path / "c.pt", changed), depth=1)
        )[0]
        reaches = key.startswith(("to_patch_embed.", "layers.0."))
        assert (not torch.equal(emb, base)) == reaches, key


def _mis_shaped(state, key, shape):
    state = dict(state)
    state[key] = torch.zeros(shape)
    return state


def _missing(state, key):
    return {k: v for k, v in state.items() if k != key}


@pytest.mark.parametrize(
    "make, key",
    [
        (lambda s: _missing(s, "layers.3.fn.norm.weight"), "layers.3.fn.norm.weight"),
        (lambda s: _missing(s, "layers.11.fn.fn.sgu.proj.bias"), "layers.11.fn.fn.sgu.proj.bias"),
        (lambda s: _mis_shaped(s, "layers.5.fn.fn.proj_out.weight", (DIM, HIDDEN // 2 - 1)),
         "layers.5.fn.fn.proj_out.weight"),
        (lambda s: _mis_shaped(s, "layers.7.fn.fn.sgu.proj.weight", (TOKENS, TOKENS - 1, 1)),
         "layers.7.fn.fn.sgu.proj.weight"),
    ],
    ids=["missing-norm", "missing-sgu-bias", "misshaped-proj-out", "misshaped-sgu-proj"],
)
def test_a_broken_published_file_names_the_key(tmp_path, make, key):
    path = write_published(tmp_path / "broken.pt", make(random_published_state()))
    with pytest.raises(ValueError) as info:
        hear_mixers.load_model(path)
    message = str(info.value)
    assert path in message and repr(key) in message, message  # the file's own key name


def test_an_unknown_key_is_named(tmp_path):
    state = dict(random_published_state())
    state["layers.0.fn.fn.extra.weight"] = torch.zeros(3)
    path = write_published(tmp_path / "extra.pt", state)
    with pytest.raises(ValueError, match=re.escape("layers.0.fn.fn.extra.weight")):
        hear_mixers.load_model(path)


def test_a_bare_state_dict_with_the_published_names_loads_the_same(tmp_path):
    state = random_published_state()
    torch.save(state, tmp_path / "bare.pt")  # no {"model_state_dict": ...} around it
    wrapped = hear_mixers.load_model(write_published(tmp_path / "wrapped.pt", state), depth=3)
    bare = hear_mixers.load_model(str(tmp_path / "bare.pt"), depth=3)
    audio = torch.from_numpy(one_second_clip())[None]
    assert torch.equal(hear_mixers.get_scene_embeddings(audio, bare),
                       hear_mixers.get_scene_embeddings(audio, wrapped))


def test_another_mfcc_count_is_refused(tmp_path):
    state = dict(random_published_state())
    state["to_patch_embed.1.weight"] = state["to_patch_embed.1.weight"][:, :20]
    with pytest.raises(ValueError, match="expects 20 MFCCs"):
        hear_mixers.load_model(write_published(tmp_path / "mfcc20.pt", state))
