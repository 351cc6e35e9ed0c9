"""Input hardening of every HEAR module, with the shipped weights: property-based tests over
lengths, batch sizes, input dtypes, devices and signals (silence, square waves, clipping).

Hypothesis runs derandomized (the same examples on every run) with few examples, so that the
suite stays fast and CI reproducible; the boundary lengths are always among the examples.
"""

import copy
import functools
import importlib

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hear_mixers.pooling import scene_embedding

SR = 16000
KWMLP_FRAMES = (480, 160)  # frame length, hop: samples at 16 kHz (30 ms frames every 10 ms)
GENERAL_FRAMES = (2800, 800)  # the general ASM-RH: 16 fbank frames (175 ms) every 50 ms
# HEAR modules under test -> their (frame length, hop); add new variant modules here
MODULES = {
    "hear_mixers": GENERAL_FRAMES,  # the default variant
    "hear_mixers.general": GENERAL_FRAMES,
    "hear_mixers.kwmlp": KWMLP_FRAMES,
    "hear_mixers.kwmlp_d4": KWMLP_FRAMES,
    "hear_mixers.kwmlp_d8": KWMLP_FRAMES,
    "hear_mixers.kwmlp_d12": KWMLP_FRAMES,
}
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
BOUNDARY_LENGTHS = [1, 479, 480, 481, 2799, 2800, 2801, 15999, 16000, 16001, 16160, 32000]
DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")),
]
SIGNALS = ["noise", "silence", "square", "clipped", "overrange"]
FAST = settings(max_examples=20, deadline=None, derandomize=True, database=None)


@functools.lru_cache(maxsize=None)
def load(module_name: str, device: str = "cpu"):
    """(module, its default model with the shipped weights on `device`), loaded once."""
    module = importlib.import_module(module_name)
    model = module.load_model()
    return module, (copy.deepcopy(model).to(device) if device != "cpu" else model)


def signal(kind: str, batch: int, length: int, seed: int) -> torch.Tensor:
    """(batch, length) float32 test audio."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(length) / SR
    freq = 50 + 2000 * torch.rand(batch, 1, generator=g)
    square = torch.where(torch.sin(2 * torch.pi * freq * t) >= 0, 1.0, -1.0)  # full scale
    return {
        "noise": lambda: 0.1 * torch.randn(batch, length, generator=g),
        "silence": lambda: torch.zeros(batch, length),
        "square": lambda: square,
        "clipped": lambda: (3 * torch.randn(batch, length, generator=g)).clamp(-1, 1),  # at +-1
        "overrange": lambda: 4 * square,  # +-4, beyond full scale
    }[kind]()


def frames_inside(length: int, frame: int, hop: int) -> int:
    """Frames wholly inside `length` samples; a shorter clip still gets one."""
    return 1 if length < frame else (length - frame) // hop + 1


def check_outputs(module_name, model, audio, device, emb, ts, scene):
    """The HEAR output rules for (B, N) `audio` at 16 kHz."""
    batch, length = audio.shape
    frame, hop = MODULES[module_name]
    frames = frames_inside(length, frame, hop)
    size = model.timestamp_embedding_size
    assert emb.shape == (batch, frames, size) and ts.shape == (batch, frames)
    assert scene.shape == (batch, model.scene_embedding_size)
    assert emb.dtype == scene.dtype == torch.float32  # the model's dtype, whatever the audio's
    assert ts.dtype == torch.float32  # milliseconds
    assert emb.device.type == ts.device.type == scene.device.type == device
    assert torch.isfinite(emb).all() and torch.isfinite(scene).all()
    assert (ts == ts[:1]).all(), "every clip of a batch has the same timestamps"
    stamps = ts[0].double().cpu()
    assert 0 <= stamps[0] and stamps[-1] <= 1000 * length / SR
    steps = torch.diff(stamps)
    assert (steps > 0).all() and (steps == 1000 * hop / SR).all()  # 10 ms for KW-MLP


@pytest.mark.parametrize("device", DEVICES)
@FAST
@given(
    module_name=st.sampled_from(list(MODULES)),
    length=st.one_of(st.integers(0, 5 * SR), st.sampled_from(BOUNDARY_LENGTHS)),
    batch=st.integers(1, 4),
    dtype=st.sampled_from(DTYPES),
    kind=st.sampled_from(SIGNALS),
    seed=st.integers(0, 2**16),
)
@example(module_name="hear_mixers", length=0, batch=2, dtype=torch.float32, kind="noise", seed=0)
@example(module_name="hear_mixers.kwmlp_d8", length=5 * SR, batch=4, dtype=torch.bfloat16,
         kind="clipped", seed=1)
@example(module_name="hear_mixers.kwmlp", length=16001, batch=3, dtype=torch.float16,
         kind="noise", seed=2)
def test_any_length_batch_dtype_and_signal_gives_valid_embeddings(
    device, module_name, length, batch, dtype, kind, seed
):
    module, model = load(module_name, device)
    audio = signal(kind, batch, length, seed).to(dtype)
    if length == 0:
        with pytest.raises(ValueError, match="zero length"):
            module.get_timestamp_embeddings(audio, model)
        return
    emb, ts = module.get_timestamp_embeddings(audio, model)
    scene = scene_embedding(emb, model.scene_pooling)  # get_scene_embeddings: see below
    check_outputs(module_name, model, audio, device, emb, ts, scene)


# the modules share one API and differ in depth: each boundary on one module, all modules used
@pytest.mark.parametrize(
    "module_name, length",
    [(list(MODULES)[i % len(MODULES)], n) for i, n in enumerate(BOUNDARY_LENGTHS)],
)
def test_boundary_lengths(module_name, length):
    module, model = load(module_name)
    audio = signal("noise", 2, length, seed=length)
    emb, ts = module.get_timestamp_embeddings(audio, model)
    scene = module.get_scene_embeddings(audio, model)
    check_outputs(module_name, model, audio, "cpu", emb, ts, scene)
    assert torch.equal(scene, scene_embedding(emb, model.scene_pooling))  # as used above


@pytest.mark.parametrize("kind", SIGNALS)
def test_extreme_signals_give_finite_embeddings(kind):
    module, model = load("hear_mixers.kwmlp")  # all 12 blocks: the deepest path
    audio = signal(kind, 1, 24_000, seed=1)
    scene = module.get_scene_embeddings(audio, model)
    assert scene.shape == (1, 1024) and torch.isfinite(scene).all()
    if kind in ("square", "overrange"):
        assert audio.abs().max() == (4 if kind == "overrange" else 1)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_audio_is_cast_to_the_model_dtype(dtype):
    module, model = load("hear_mixers")
    audio = signal("noise", 2, 20_000, seed=2).to(dtype)  # values exactly representable
    emb, _ = module.get_timestamp_embeddings(audio, model)
    assert emb.dtype == torch.float32
    assert torch.equal(emb, module.get_timestamp_embeddings(audio.float(), model)[0])


def test_a_float64_model_gets_float64_embeddings():
    module, _ = load("hear_mixers")
    model = module.load_model(precision="fp32")  # the default's "auto" may be bf16 here
    audio = signal("noise", 1, 20_000, seed=3).half()
    emb64, ts = module.get_timestamp_embeddings(audio, copy.deepcopy(model).double())
    assert emb64.dtype == torch.float64 and ts.dtype == torch.float32
    emb32, _ = module.get_timestamp_embeddings(audio, model)
    torch.testing.assert_close(emb64.float(), emb32, atol=1e-3, rtol=0)


def test_non_contiguous_and_grad_requiring_audio_are_accepted():
    module, model = load("hear_mixers")
    audio = signal("noise", 1, 34_000, seed=5)
    expected, _ = module.get_timestamp_embeddings(audio[:, ::2].contiguous(), model)
    strided, _ = module.get_timestamp_embeddings(audio[:, ::2], model)  # a strided view
    assert torch.equal(strided, expected)
    with_grad, _ = module.get_timestamp_embeddings(audio[:, ::2].clone().requires_grad_(), model)
    assert torch.equal(with_grad, expected) and not with_grad.requires_grad


# test_api checks 1-D, 3-D, int16, empty batch, zero length, NaN and Inf on one model; these
# are the other bad inputs, through every module
@pytest.mark.parametrize("module_name", list(MODULES))
@pytest.mark.parametrize(
    "audio, error, message",
    [
        (torch.tensor(0.5), ValueError, r"2-D \(batch, samples\), got shape \(\)"),
        (torch.zeros(1, 16000, dtype=torch.int32), TypeError, "floating point"),
        (torch.zeros(1, 16000, dtype=torch.bool), TypeError, "floating point"),
        (torch.zeros(1, 16000, dtype=torch.complex64), TypeError, "floating point"),
        (torch.full((1, 16000), float("-inf")), ValueError, "NaN or Inf"),
        (torch.full((1, 16000), 1e300, dtype=torch.float64), ValueError, "NaN or Inf"),
        ([[0.0] * 16000], TypeError, "must be a torch.Tensor"),
    ],
    ids=["0-D", "int32", "bool", "complex", "-inf", "float64-overflow", "list"],
)
def test_bad_audio_gets_a_named_error_from_every_module(module_name, audio, error, message):
    module, model = load(module_name)
    for embed in (module.get_timestamp_embeddings, module.get_scene_embeddings):
        with pytest.raises(error, match=message):
            embed(audio, model)


@pytest.mark.slow
def test_twenty_minutes_of_audio():
    """20 min through one block of the shipped weights (the windowing is the same for every
    depth; test_api runs 20 min through 12 blocks of a random model)."""
    module, _ = load("hear_mixers.kwmlp")
    model = module.load_model(depth=1)
    audio = signal("noise", 1, 20 * 60 * SR, seed=4)  # (1, 19_200_000)
    emb, ts = module.get_timestamp_embeddings(audio, model)
    scene = scene_embedding(emb, model.scene_pooling)  # what get_scene_embeddings returns
    check_outputs("hear_mixers.kwmlp", model, audio, "cpu", emb, ts, scene)
    assert emb.shape[1] == 119_998 and ts[0, -1] == 15 + 10 * 119_997
