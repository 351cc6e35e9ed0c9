import importlib
import math
import re

import numpy as np
import pytest
import torch

import hear_mixers
from hear_mixers import (get_scene_embeddings, get_timestamp_and_scene_embeddings,
                         get_timestamp_embeddings, load_model)
from hear_mixers import api
from hear_mixers.api import Embedder
from hear_mixers.pooling import POOLINGS
from hear_mixers.variants import modules, variant_of

SR = 16000
# Different batch sizes take different BLAS paths; measured differences are ~1e-6.
BATCH_ATOL = 1e-4


def noise(batch: int, seconds: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(batch, round(seconds * SR), generator=g)


@pytest.mark.parametrize("seconds", [0.3, 1.0, 1.07, 4.0, 61.5])
def test_timestamps_in_ms_evenly_spaced_and_inside_the_audio(model, seconds):
    audio = noise(2, seconds)
    emb, ts = get_timestamp_embeddings(audio, model)
    n = (audio.shape[1] - 480) // 160 + 1  # frames wholly inside the audio
    assert emb.shape == (2, n, 64) and ts.shape == (2, n)
    assert ts.dtype == emb.dtype == torch.float32 and ts.device == emb.device
    assert torch.equal(ts[0], ts[1])
    assert ts[0, 0].item() == 15.0  # centre of the first 30 ms frame, in ms
    assert torch.all(torch.diff(ts, dim=1) == 10.0)  # 10 ms hop, no duplicated frame
    assert ts[0, -1].item() <= 1000 * seconds - 15  # last frame ends inside the audio
    assert ts[0, -1].item() > 1000 * seconds - 25  # and no whole frame is left out


def test_clip_shorter_than_one_frame_gives_one_frame_at_its_middle(model):
    emb, ts = get_timestamp_embeddings(noise(1, 0.01), model)  # 160 samples < 480
    assert emb.shape == (1, 1, 64) and ts.tolist() == [[5.0]]


def test_repeated_runs_are_bitwise_equal_on_cpu(model):
    audio = noise(3, 3.3)
    first = get_timestamp_embeddings(audio, model)
    second = get_timestamp_embeddings(audio, model)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert torch.equal(get_scene_embeddings(audio, model), get_scene_embeddings(audio, model))


def test_chunk_batch_size_bounds_each_forward_and_does_not_change_results(checkpoint):
    audio = noise(2, 12.0)
    small = load_model(checkpoint, chunk_batch_size=3)
    sizes, forward = [], small.encoder.forward_tokens
    small.encoder.forward_tokens = lambda w, d: sizes.append(w.shape[0]) or forward(w, d)
    emb_small, _ = get_timestamp_embeddings(audio, small)
    assert max(sizes) <= 3 and len(sizes) > 3
    emb_big, _ = get_timestamp_embeddings(audio, load_model(checkpoint, chunk_batch_size=1000))
    torch.testing.assert_close(emb_small, emb_big, atol=BATCH_ATOL, rtol=0)


def test_one_second_clip_is_one_training_window(model):
    """A 1 s clip is embedded exactly as the encoder sees a training example."""
    audio = noise(2, 1.0)
    emb, _ = get_timestamp_embeddings(audio, model)
    (direct,) = model.encoder.forward_intermediates(audio, [12])
    assert torch.equal(emb, direct)


@pytest.mark.parametrize("encoder, margin", [("checkpoint", 16), ("asm_checkpoint", 2)])
def test_every_frame_gets_context_across_seams(request, encoder, margin):
    """Each frame of a long clip equals the encoder's output for some window of the clip in
    which it has >= seam_context frames on both sides (fewer only at the audio's edges)."""
    model = load_model(request.getfixturevalue(encoder))  # KW-MLP and the small ASM-RH
    assert model.seam_context == margin  # 160 ms: 16 frames of 10 ms, 2 columns of 80 ms
    audio = noise(1, 4.0, seed=5)
    emb, _ = get_timestamp_embeddings(audio, model)
    geo = model.encoder.geometry
    total, frames = emb.shape[1], geo.window_frames
    windows = audio[0].unfold(0, geo.window_samples, geo.frame_hop)  # every window position
    (all_windows,) = model.encoder.forward_intermediates(windows, model.depths)  # (P, frames, D)
    for t in range(total):
        lo, hi = min(t, margin), min(total - 1 - t, margin)  # context needed each side
        starts = [s for s in range(len(windows)) if t - s >= lo and s + frames - 1 - t >= hi]
        assert starts, f"frame {t} has no window with enough context"
        err = min((all_windows[s, t - s] - emb[0, t]).abs().max().item() for s in starts)
        assert err < BATCH_ATOL, f"frame {t} does not come from a window with context"


def test_without_seam_context_frames_may_sit_at_window_edges(checkpoint):
    audio = noise(1, 4.0, seed=5)
    with_ctx, _ = get_timestamp_embeddings(audio, load_model(checkpoint, seam_context=16))
    without, _ = get_timestamp_embeddings(audio, load_model(checkpoint, seam_context=0))
    assert with_ctx.shape == without.shape
    torch.testing.assert_close(with_ctx[:, :82], without[:, :82], atol=BATCH_ATOL, rtol=0)
    assert not torch.allclose(with_ctx, without, atol=1e-3)


def test_no_duplicated_frames_at_seams(model):
    emb, _ = get_timestamp_embeddings(noise(1, 5.0), model)
    step = (emb[0, 1:] - emb[0, :-1]).abs().amax(dim=1)
    assert step.min() > 0


@pytest.mark.parametrize("d", [1, 4, 8, 11, 12])
def test_depth_d_is_the_output_of_block_d(checkpoint, d):
    model = load_model(checkpoint, depth=d)
    audio = noise(2, 1.0)
    captured = {}
    block = model.encoder.blocks[d - 1]
    block.register_forward_hook(lambda m, inp, out: captured.setdefault("out", out))
    emb, _ = get_timestamp_embeddings(audio, model)
    expected = captured["out"]
    if d == 12:  # the last block's embedding passes the trained final LayerNorm
        expected = model.encoder.norm(expected)
    assert torch.equal(emb, expected)
    assert model.timestamp_embedding_size == 64 and model.scene_embedding_size == 1024


def test_list_of_depths_is_the_concatenation(checkpoint):
    audio = noise(2, 2.2)
    multi = load_model(checkpoint, depth=[4, 8, 12])
    assert multi.timestamp_embedding_size == 192 and multi.scene_embedding_size == 3072
    emb, ts = get_timestamp_embeddings(audio, multi)
    parts = [get_timestamp_embeddings(audio, load_model(checkpoint, depth=d))[0] for d in (4, 8, 12)]
    torch.testing.assert_close(emb, torch.cat(parts, dim=-1), atol=BATCH_ATOL, rtol=0)
    assert get_scene_embeddings(audio, multi).shape == (2, 3072)
    reordered, _ = get_timestamp_embeddings(audio, load_model(checkpoint, depth=[12, 4]))
    torch.testing.assert_close(reordered[..., :64], parts[2], atol=BATCH_ATOL, rtol=0)


@pytest.mark.parametrize("module_name", modules())
def test_every_variant_module_has_the_hear_api(checkpoint, module_name):
    """Each module of the registry, here on the random 12-block KW-MLP checkpoint (their
    shipped weights: tests/test_golden.py). The package module gives a named file the API's
    defaults; a variant module its own options."""
    module = importlib.import_module(module_name)
    model = module.load_model(checkpoint)
    options = {} if module_name == "hear_mixers" else variant_of(module_name).options
    depth = options.get("depth", 12)  # the variant's, else the last
    depths = depth if isinstance(depth, list) else [depth]
    width = 64 * len(depths)  # concatenated blocks
    assert isinstance(model, torch.nn.Module) and model.depths == depths
    for attr, value in [("sample_rate", 16000), ("timestamp_embedding_size", width),
                        ("scene_embedding_size", 16 * width)]:
        assert type(getattr(model, attr)) is int and getattr(model, attr) == value
    emb, ts = module.get_timestamp_embeddings(noise(3, 1.98), model)
    assert emb.shape == (3, 196, width) and ts.shape == (3, 196)  # (31680 - 480) // 160 + 1
    assert emb.dtype == ts.dtype == torch.float32
    scene = module.get_scene_embeddings(noise(4, 2.74), model)
    assert scene.shape == (4, 16 * width) and scene.dtype == torch.float32
    assert torch.isfinite(scene).all()


@pytest.mark.parametrize("pooling", sorted(POOLINGS))
@pytest.mark.parametrize("seconds", [0.4, 1.0, 7.3])
def test_one_pass_gives_the_numbers_of_the_two_hear_calls(checkpoint, pooling, seconds):
    model = load_model(checkpoint, scene_pooling=pooling)
    audio = noise(2, seconds)
    emb, ts, scene = hear_mixers.kwmlp_d4.get_timestamp_and_scene_embeddings(audio, model)
    emb2, ts2 = get_timestamp_embeddings(audio, model)
    assert torch.equal(emb, emb2) and torch.equal(ts, ts2)
    assert torch.equal(scene, get_scene_embeddings(audio, model))
    assert scene.shape == (2, model.scene_embedding_size)


def test_variant_options_still_pass_through(checkpoint):
    model = hear_mixers.kwmlp_d4.load_model(checkpoint, scene_pooling="mean")
    assert model.depths == [4] and model.scene_pooling == "mean"
    assert hear_mixers.kwmlp_d4.load_model(checkpoint, depth=[2, 3]).depths == [2, 3]


@pytest.mark.parametrize("pooling", sorted(POOLINGS))
def test_scene_poolings_keep_constants_and_use_only_real_frames(checkpoint, pooling):
    model = load_model(checkpoint, scene_pooling=pooling)
    audio = noise(2, 0.55)  # shorter than one window: zero-padded to 1 s inside
    emb, _ = get_timestamp_embeddings(audio, model)
    scene = get_scene_embeddings(audio, model)
    assert scene.shape == (2, 1024)
    expected = POOLINGS[pooling](emb).flatten(1)  # pooled from the 53 real frames only
    torch.testing.assert_close(scene, expected, atol=0, rtol=0)
    const = torch.ones(2, 53, 64) * torch.arange(64.0)
    torch.testing.assert_close(POOLINGS[pooling](const), torch.ones(2, 16, 64) * torch.arange(64.0))


@pytest.mark.parametrize("length", [1, 15, 16, 98, 100, 6148])
def test_iterative_interpolation_follows_a_linear_ramp(length):
    ramp = torch.linspace(0, 1, length)[None, :, None]  # (1, T, 1)
    out = POOLINGS["iterative"](ramp)[0, :, 0]
    expected = torch.linspace(0, 1, 16) if length > 1 else torch.zeros(16)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)


def test_iterative_interpolation_halves_then_interpolates(monkeypatch):
    import torch.nn.functional as F

    sizes = []
    real = F.interpolate
    def spy(x, size, **kw):
        sizes.append(size)
        return real(x, size=size, **kw)

    monkeypatch.setattr(F, "interpolate", spy)
    POOLINGS["iterative"](torch.randn(1, 398, 4))  # floor(log2(398 / 16)) = 4 halvings
    assert sizes == [199, 99, 49, 24, 16]


def test_group_mean_averages_consecutive_groups():
    x = torch.arange(32.0)[None, :, None]
    assert POOLINGS["mean"](x)[0, :, 0].tolist() == [0.5 + 2 * i for i in range(16)]


@pytest.mark.parametrize(
    "audio, error, message",
    [
        (np.zeros((1, 16000), dtype=np.float32), TypeError, "must be a torch.Tensor"),
        (torch.zeros(16000), ValueError, r"2-D \(batch, samples\).*audio\[None\]"),
        (torch.zeros(1, 2, 16000), ValueError, "2-D"),
        (torch.zeros(1, 16000, dtype=torch.int16), TypeError, "floating point"),
        (torch.zeros(0, 16000), ValueError, "batch is empty"),
        (torch.zeros(2, 0), ValueError, "zero length"),
        (torch.tensor([[0.0, float("nan")] * 8000]), ValueError, "NaN or Inf"),
        (torch.tensor([[0.0, float("inf")] * 8000]), ValueError, "NaN or Inf"),
        (torch.tensor([[0.0, -float("inf")] * 8000]), ValueError, "NaN or Inf"),
        (torch.tensor([[float("nan"), 5e4] * 8000]), ValueError, "NaN or Inf"),  # NaN first
        (torch.full((1, 16000), 32767.0), ValueError, r"peaks at 32767.*audio / 32768"),
        (torch.full((1, 16000), -32768.0), ValueError, r"peaks at 32768.*audio / 32768"),
        (torch.full((1, 16000), 1e20), ValueError, "far outside"),  # would overflow the power
    ],
    ids=["numpy", "1-D", "3-D", "int16", "empty-batch", "zero-length", "nan", "inf",
         "minus-inf", "nan-and-loud", "unscaled-pcm", "unscaled-negative-pcm", "huge"],
)
def test_bad_audio_is_named(model, audio, error, message):
    with pytest.raises(error, match=message):
        get_timestamp_embeddings(audio, model)
    with pytest.raises(error, match=message):
        get_scene_embeddings(audio, model)
    with pytest.raises(error, match=message):
        get_timestamp_and_scene_embeddings(audio, model)


def test_float64_audio_is_accepted_as_float32(model):
    audio = noise(1, 1.0)
    emb64, ts = get_timestamp_embeddings(audio.double(), model)
    assert emb64.dtype == torch.float32
    assert torch.equal(emb64, get_timestamp_embeddings(audio, model)[0])


def test_model_must_come_from_load_model():
    with pytest.raises(TypeError, match="must come from hear_mixers load_model"):
        get_timestamp_embeddings(noise(1, 1.0), torch.nn.Linear(2, 2))


@pytest.mark.parametrize(
    "options, message",
    [
        ({"depth": 0}, r"depth must be in 1\.\.12"),
        ({"depth": 13}, r"depth must be in 1\.\.12"),
        ({"depth": True}, "depth must be"),
        ({"depth": []}, "non-empty list"),
        ({"depth": [4, 4]}, "repeats"),
        ({"depth": "8"}, "depth must be"),
        ({"scene_pooling": "max"}, "scene_pooling must be one of"),
        ({"seam_context": 49}, r"seam_context must be an int in 0\.\.48"),
        ({"chunk_batch_size": 0}, "chunk_batch_size must be a positive int"),
        ({"precision": "fp8"}, "precision must be one of"),
    ],
)
def test_bad_options_are_named(checkpoint, options, message):
    with pytest.raises(ValueError, match=message):
        load_model(checkpoint, **options)
    with pytest.raises(ValueError, match=message):  # the model checks its own options
        Embedder(load_model(checkpoint).encoder, **options)


def test_load_model_without_a_path_says_the_modules_fill_it_in():
    with pytest.raises(ValueError, match="needs a checkpoint path"):
        hear_mixers.api.load_model("")


def test_untrained_checkpoints_warn(checkpoint):
    with pytest.warns(UserWarning, match="untrained weights"):
        load_model(checkpoint)


def test_default_weights_missing_says_what_and_how(monkeypatch, tmp_path):
    monkeypatch.setattr(hear_mixers.shipped, "weights_dir", lambda: tmp_path)
    weights = re.escape(variant_of("hear_mixers").weights)  # the default variant's file
    expected = weights + r" are not there.*pip install \..*training/README\.md.*load_model\('path"
    with pytest.raises(FileNotFoundError, match=expected):
        load_model()


def test_default_weights_load_from_the_weights_folder(monkeypatch, tmp_path, checkpoint):
    (tmp_path / "kwmlp.pt").write_bytes(open(checkpoint, "rb").read())
    digest = hear_mixers.shipped.sha256_file(tmp_path / "kwmlp.pt")
    (tmp_path / "SHA256SUMS").write_text(f"{digest}  kwmlp.pt\n")
    monkeypatch.setattr(hear_mixers.shipped, "weights_dir", lambda: tmp_path)
    assert hear_mixers.kwmlp_d8.load_model().depths == [8]


@pytest.mark.slow
def test_long_audio_runs_in_bounded_windows(model):
    """20 minutes of audio: 120,000 frames from bounded encoder batches."""
    sizes, forward = [], model.encoder.forward_tokens
    model.encoder.forward_tokens = lambda w, d: sizes.append(w.shape[0]) or forward(w, d)
    try:
        emb, ts = get_timestamp_embeddings(noise(1, 20 * 60), model)
    finally:
        del model.encoder.forward_tokens
    assert emb.shape == (1, 119_998, 64) and torch.isfinite(emb).all()
    chunk = model.chunk_size(emb.device)  # 64 on CPU
    assert max(sizes) <= chunk and len(sizes) == math.ceil(sum(sizes) / chunk)
    assert ts[0, -1].item() == 15 + 10 * 119_997


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_model_takes_cpu_audio_and_returns_cuda_tensors(checkpoint):
    model = load_model(checkpoint).cuda()
    emb, ts = get_timestamp_embeddings(noise(2, 1.5), model)
    assert emb.device.type == ts.device.type == "cuda"
    cpu_emb, _ = get_timestamp_embeddings(noise(2, 1.5), load_model(checkpoint))
    torch.testing.assert_close(emb.cpu(), cpu_emb, atol=1e-3, rtol=0)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_returns_float32_close_to_fp32(checkpoint, precision):
    """Autocast on the encoder (the frontend stays float32): measured ~0.7 % (bf16) and
    ~0.1 % (fp16) relative RMS difference; allowed 3 %."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu" and precision == "fp16":
        pytest.skip("fp16 autocast is slow on CPU")
    audio = noise(2, 2.5)
    ref, _ = get_timestamp_embeddings(audio, load_model(checkpoint).to(device))
    low, _ = get_timestamp_embeddings(audio, load_model(checkpoint, precision=precision).to(device))
    assert low.dtype == torch.float32 and low.shape == ref.shape
    rel = ((low - ref).norm() / ref.norm()).item()
    assert 0 < rel < 0.03
    assert torch.nn.functional.cosine_similarity(low, ref, dim=-1).min() > 0.99


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_is_bf16_on_a_native_bf16_cpu_and_fp32_elsewhere(checkpoint, monkeypatch, native):
    monkeypatch.setattr(api, "native_bf16_cpu", lambda: native)
    audio = noise(2, 1.5)
    auto, _ = get_timestamp_embeddings(audio, load_model(checkpoint, precision="auto"))
    same, _ = get_timestamp_embeddings(audio, load_model(checkpoint, precision="bf16" if native else "fp32"))
    assert torch.equal(auto, same)


def test_tf32_is_fp32_off_cuda_and_leaves_the_global_setting_alone(checkpoint):
    before = torch.backends.cuda.matmul.fp32_precision
    audio = noise(2, 1.5)
    ref, _ = get_timestamp_embeddings(audio, load_model(checkpoint))
    tf32, _ = get_timestamp_embeddings(audio, load_model(checkpoint, precision="tf32"))
    assert torch.equal(tf32, ref)  # on CPU TF32 changes nothing
    assert torch.backends.cuda.matmul.fp32_precision == before


def test_tf32_switch_is_set_inside_and_restored_after():
    from hear_mixers.api import _tf32_matmuls

    matmul = torch.backends.cuda.matmul
    before = matmul.fp32_precision
    with _tf32_matmuls(True):
        assert matmul.fp32_precision == "tf32"
    assert matmul.fp32_precision == before
    with pytest.raises(RuntimeError, match="boom"), _tf32_matmuls(True):
        raise RuntimeError("boom")
    assert matmul.fp32_precision == before
    with _tf32_matmuls(False):
        assert matmul.fp32_precision == before


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_tf32_on_cuda_stays_close_to_fp32(checkpoint):
    audio = noise(2, 2.5).cuda()
    ref, _ = get_timestamp_embeddings(audio, load_model(checkpoint).cuda())
    tf32, _ = get_timestamp_embeddings(audio, load_model(checkpoint, precision="tf32").cuda())
    assert tf32.dtype == torch.float32
    assert ((tf32 - ref).norm() / ref.norm()).item() < 0.01


def test_chunk_batch_size_default_depends_on_the_device(checkpoint):
    model = load_model(checkpoint)
    assert model.chunk_size(torch.device("cpu")) == 64
    assert model.chunk_size(torch.device("cuda")) == 256
    assert load_model(checkpoint, chunk_batch_size=7).chunk_size(torch.device("cpu")) == 7


def test_the_package_loads_a_given_file_with_the_api_defaults(asm_checkpoint):
    """The default variant's options describe its own weights; a file the caller names gets
    the API's defaults from `hear_mixers`, and the variant's options from its own module."""
    import hear_mixers.general

    with pytest.warns(UserWarning, match="untrained"):
        assert hear_mixers.load_model(asm_checkpoint).depths == [6]  # the last block
    with pytest.warns(UserWarning, match="untrained"):
        assert hear_mixers.general.load_model(asm_checkpoint).depths == [3, 6]
    assert hear_mixers.load_model().depths == variant_of("hear_mixers").options["depth"]
