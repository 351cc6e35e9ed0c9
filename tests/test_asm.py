"""The ASM family: RollBlock, Hermit-Frequency-mixing, GMME, configs, parameter counts, and
the encoders through the shared HEAR API."""

import pytest
import torch

from hear_mixers import get_scene_embeddings, get_timestamp_embeddings, load_model
from hear_mixers.checkpoint import load_checkpoint, save_checkpoint
from hear_mixers.models.asm import (
    ASM, GMME, MIXERS, AconC, TokenMixing, make_config, rgb_to_gray_patch_weights, roll_block,
)
from conftest import random_asm

ATOL = 1e-5  # float32, batched vs single windows (measured ~1e-6)


# --- RollBlock


@pytest.mark.parametrize("alpha", [0, 1, 2, 3, 5, 15, 20])
def test_roll_block_is_a_permutation_and_its_inverse_restores(alpha):
    x = torch.randn(2, 88, 96)
    y = roll_block(x, alpha, depth=6)
    assert y.shape == x.shape
    assert torch.equal(torch.sort(y.flatten(1)).values, torch.sort(x.flatten(1)).values)
    assert torch.equal(roll_block(y, alpha, depth=6, inverse=True), x)


@pytest.mark.parametrize("alpha, moved", [(0, True), (3, True), (5, True), (6, False), (16, False)])
def test_roll_block_moves_data_until_the_step_or_the_groups_run_out(alpha, moved):
    """step = depth - alpha is 0 from alpha = depth on; g = int(16 / (1 + alpha)) is 0 from 16."""
    x = torch.randn(1, 88, 96)
    assert (not torch.equal(roll_block(x, alpha, depth=6), x)) == moved


def test_roll_block_rolls_four_groups_in_four_directions():
    """alpha = 3: g = 4, step = 3; slices 0-3 +3 and 4-7 -3 along the last axis, 8-11 +3 and
    12-15 -3 along the one before (the view is (n, 16, H / 4, W / 4))."""
    x = torch.arange(88 * 96.0).reshape(1, 88, 96)
    y = roll_block(x, 3, depth=6).reshape(1, 16, 22, 24)
    v = x.reshape(1, 16, 22, 24)
    assert torch.equal(y[:, 0:4], torch.roll(v[:, 0:4], 3, 3))
    assert torch.equal(y[:, 4:8], torch.roll(v[:, 4:8], -3, 3))
    assert torch.equal(y[:, 8:12], torch.roll(v[:, 8:12], 3, 2))
    assert torch.equal(y[:, 12:16], torch.roll(v[:, 12:16], -3, 2))


# --- Hermit-Frequency-mixing, activations, stems


def test_hermit_mixing_keeps_shape_and_real_dtype():
    torch.manual_seed(0)
    mix = TokenMixing(dim=96, num_tokens=88, hidden=176, activation="gelu", hermit=True)
    x = torch.randn(3, 88, 96)
    y = mix(x)
    assert y.shape == x.shape and y.dtype == torch.float32 and not y.is_complex()
    z = torch.fft.hfft(x, n=96, dim=-1, norm="ortho")
    assert z.shape == x.shape and z.dtype == torch.float32
    assert torch.fft.irfft(z, n=96, dim=-1, norm="ortho").shape == x.shape
    plain = TokenMixing(dim=96, num_tokens=88, hidden=176, activation="gelu", hermit=False)
    plain.load_state_dict(mix.state_dict())
    assert not torch.allclose(plain(x), y)  # the transforms change the result


@pytest.mark.parametrize("dim", [96, 97])  # even and odd lengths
def test_hermit_mixing_is_the_hfft_irfft_of_the_paper(dim):
    """The matrix form equals hfft -> token MLP -> irfft along channels (n = dim, ortho)."""
    torch.manual_seed(0)
    mix = TokenMixing(dim=dim, num_tokens=20, hidden=32, activation="gelu", hermit=True)
    x = torch.randn(3, 20, dim)
    y = torch.fft.hfft(mix.norm(x), n=dim, dim=-1, norm="ortho")
    y = mix.mlp(y.transpose(1, 2)).transpose(1, 2)
    want = torch.fft.irfft(y, n=dim, dim=-1, norm="ortho")
    torch.testing.assert_close(mix(x), want, atol=1e-5, rtol=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = mix(x)
    assert low.dtype == torch.bfloat16
    assert (low.float() - want).norm() / want.norm() < 0.02
    assert not any("fft" in key for key in mix.state_dict())  # checkpoints stay as they were


def test_acon_c_starts_as_swish():
    x = torch.linspace(-6, 6, 101)
    torch.testing.assert_close(AconC(101)(x), torch.nn.functional.silu(x))


def test_gray_projection_weights_rgb_by_luma():
    w = torch.randn(8, 1, 16, 16).expand(8, 3, 16, 16)  # equal channels: weights sum to 1
    torch.testing.assert_close(rgb_to_gray_patch_weights(w), w[:, :1], rtol=1e-6, atol=1e-6)
    w = torch.zeros(2, 3, 4, 4)
    w[:, 1] = 1.0
    assert torch.allclose(rgb_to_gray_patch_weights(w), torch.full((2, 1, 4, 4), 0.587))
    with pytest.raises(ValueError, match="RGB patch weight"):
        rgb_to_gray_patch_weights(torch.zeros(2, 1, 4, 4))


def test_gmme_doubles_frequency_and_halves_time():
    torch.manual_seed(0)
    out = GMME(kernel=32, channels=8)(torch.randn(2, 128, 96))
    assert out.shape == (2, 256, 48)
    # two 8 x (32 x 4) convs + 4 x (4 x 4) + PReLUs 8 + 8 + 4 + 4 + pointwise 4 x 4, biases
    assert sum(p.numel() for p in GMME(32, 8).parameters()) == 2 * 1032 + 68 + 24 + 20


# --- configs and parameter counts


@pytest.mark.parametrize("config, options, params", [
    ("small", {"mixer": "asm_rh"}, 663_251),
    ("small", {"mixer": "asm"}, 663_251),  # the same weights: roll and FFTs have none
    ("small", {"mixer": "asm_rh", "stem": "gmme"}, 648_483),
    ("small", {"mixer": "asm_rh", "activation": "acon_c"}, 663_251 + 6 * 3 * (176 + 384)),
    ("base", {"mixer": "asm_rh"}, 62_473_283),
])
def test_parameter_counts_are_pinned(config, options, params):
    with torch.device("meta"):
        model = ASM(make_config(config, **options))
    assert sum(p.numel() for p in model.parameters()) == params


def test_base_config_is_the_papers_600_patches_of_768():
    cfg = make_config("base")
    assert cfg.grid == (12, 50) and cfg.num_tokens == 600 and cfg.dim == 768 and cfg.depth == 12


@pytest.mark.parametrize("options", [{}, {"stem": "gmme"}, {"tstride": 4},
                                     {"fstride": 8, "dim": 64, "mixer": "asm"}])
def test_window_geometry_is_consistent(options):
    """A window of `window_samples` gives exactly the fbank frames the patches use, and
    `num_frames` columns of embeddings."""
    model = ASM(make_config("small", **options))
    cfg, geo, fb = model.cfg, model.geometry, model.cfg.frontend
    assert 1 + (geo.window_samples - fb.frame_length) // fb.frame_shift == cfg.used_frames
    (emb,) = model.eval().forward_intermediates(torch.randn(2, geo.window_samples), [cfg.depth])
    assert emb.shape == (2, cfg.num_frames, cfg.dim)


@pytest.mark.parametrize("options, message", [
    ({"mixer": "asm_x"}, "mixer must be one of"),
    ({"activation": "relu"}, "activation must be one of"),
    ({"stem": "conv"}, "stem must be"),
    ({"input_frames": 8}, "smaller than one 16-patch"),
    ({"dim": 90}, "RollBlock reshapes"),
])
def test_bad_configs_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        make_config("small", **options)


# --- training-side behaviour


def test_every_mixer_trains_one_step():
    for mixer in MIXERS:
        model = random_asm(mixer=mixer).train()
        loss = model(0.1 * torch.randn(4, 16000)).logsumexp(1).mean()
        loss.backward()
        grads = [p.grad for p in model.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads), mixer


def test_drop_path_only_in_training():
    model = random_asm(drop_path=0.5)
    x = 0.1 * torch.randn(3, 16000)
    assert torch.equal(model(x), model(x))  # eval: deterministic
    model.train()
    torch.manual_seed(1)
    a = model(x)
    torch.manual_seed(2)
    assert not torch.equal(a, model(x))


# --- checkpoints and the HEAR API


def test_checkpoint_round_trip_is_strict_and_exact(tmp_path):
    model = random_asm(mixer="asm_h", stem="gmme", norm_mean=-7.5, norm_std=4.25)
    save_checkpoint(model, tmp_path / "a.pt", trained=False)
    loaded, _ = load_checkpoint(tmp_path / "a.pt")
    assert loaded.cfg == model.cfg
    x = 0.1 * torch.randn(2, model.geometry.window_samples)
    assert torch.equal(loaded.forward_intermediates(x, [6])[0], model.forward_intermediates(x, [6])[0])


@pytest.mark.parametrize("seconds", [0.1, 1.0, 3.3])
def test_api_timestamps_follow_the_patch_columns(asm_checkpoint, seconds):
    """Column j covers fbank frames [8 j, 8 j + 16): samples [1280 j, 1280 j + 2800), stamped
    at its centre, 87.5 + 80 j ms."""
    model = load_model(asm_checkpoint)
    audio = 0.1 * torch.randn(2, round(16000 * seconds))
    emb, ts = get_timestamp_embeddings(audio, model)
    n = max(1, (audio.shape[1] - 2800) // 1280 + 1)
    assert emb.shape == (2, n, 96) and ts.shape == (2, n)
    if audio.shape[1] >= 2800:
        assert ts[0, 0].item() == 87.5 and torch.all(torch.diff(ts, dim=1) == 80.0)
        assert ts[0, -1].item() <= 1000 * seconds - 87.5
    scene = get_scene_embeddings(audio, model)
    assert scene.shape == (2, model.scene_embedding_size) == (2, 16 * 96)


def test_api_depths_and_seam_bounds(asm_checkpoint):
    assert load_model(asm_checkpoint).seam_context == 2  # 160 ms at 80 ms per column
    model = load_model(asm_checkpoint, depth=[2, 6])
    assert model.timestamp_embedding_size == 192
    with pytest.raises(ValueError, match="depth must be in 1..6"):
        load_model(asm_checkpoint, depth=7)
    with pytest.raises(ValueError, match=r"seam_context must be an int in 0..5"):
        load_model(asm_checkpoint, seam_context=6)
