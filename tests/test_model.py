import pytest
import torch

from hear_mixers.models.base import Geometry
from hear_mixers.models.kwmlp import KWMLP
from conftest import random_asm, random_kwmlp


def count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_parameter_count_matches_published_kwmlp():
    model = KWMLP()
    assert count(model) == 424_811
    assert count(model.blocks[0]) == 34_982
    assert count(model) - count(model.head) == 422_536


def test_frontend_buffers_stay_out_of_the_state_dict():
    keys = KWMLP().state_dict().keys()
    assert not [k for k in keys if k.startswith("frontend")]
    assert len(keys) == 2 + 12 * 10 + 2 + 2


def test_sgu_starts_near_identity():
    sgu = KWMLP().blocks[0].sgu
    assert sgu.proj.weight.abs().max() <= 1e-3 / 98
    assert torch.equal(sgu.proj.bias, torch.ones(98))


def test_classifier_shapes_and_eval_is_deterministic():
    model = random_kwmlp()
    audio = torch.randn(3, 16000)
    logits = model(audio)
    assert logits.shape == (3, 35) and logits.dtype == torch.float32
    assert torch.equal(logits, model(audio))


def test_stochastic_depth_only_in_training():
    model = random_kwmlp(survival_prob=0.5)
    assert model._blocks_kept() == [True] * 12  # eval
    model.train()
    torch.manual_seed(1)
    draws = [model._blocks_kept() for _ in range(200)]
    kept = sum(map(sum, draws)) / (200 * 12)
    assert 0.4 < kept < 0.6
    assert len({tuple(d) for d in draws}) > 1


def test_stochastic_depth_keeps_at_least_one_block():
    model = random_kwmlp(survival_prob=0.0).train()
    for _ in range(20):
        assert sum(model._blocks_kept()) == 1


def test_windows_of_the_wrong_length_are_refused():
    with pytest.raises(ValueError, match="16000 samples"):
        random_kwmlp().forward_intermediates(torch.randn(1, 15999), [12])


def test_forward_intermediates_runs_no_block_after_the_deepest_requested():
    model = random_kwmlp()
    ran = []
    for i, block in enumerate(model.blocks, start=1):
        block.register_forward_hook(lambda m, inp, out, i=i: ran.append(i))
    model.forward_intermediates(torch.randn(2, 16000), [2, 5])
    assert ran == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("make", [
    lambda: random_kwmlp(),
    lambda: random_asm(),
    lambda: random_asm(stem="gmme"),
    lambda: random_asm(tstride=7),  # patches use 93 of the 96 input frames: padded as in training
], ids=["kwmlp", "asmrh", "asmrh-gmme", "asmrh-tstride7"])
def test_window_features_are_a_slice_of_the_clips_features(make):
    """The API computes a clip's features once and cuts windows from them: for a window
    starting at any embedding frame, that slice gives what the window's own audio gives."""
    model = make()
    geo = model.geometry
    audio = torch.randn(2, geo.window_samples + 3 * geo.frame_hop + 77)
    clip = model.features(audio)  # (2, bins, frames)
    step = geo.frame_hop // geo.feature_hop  # feature frames per embedding frame
    for start in range(4):
        window = audio[:, start * geo.frame_hop :][:, : geo.window_samples]
        cut = clip[..., start * step : start * step + geo.window_features]
        # float32 round-off: the clip's and the window's waveform means differ, and the
        # fbank's FFT errs relative to a frame's energy, most in the lowest mel bins (pre-
        # emphasis leaves them ~30 dB below the rest on white noise); log energies span -16..8
        torch.testing.assert_close(cut, model.features(window), atol=2e-3, rtol=0)
        (from_cut,) = model.forward_features(cut, [geo.num_blocks])
        (from_audio,) = model.forward_intermediates(window, [geo.num_blocks])
        torch.testing.assert_close(from_cut, from_audio, atol=1e-4, rtol=0)


@pytest.mark.parametrize("make", [
    lambda: random_kwmlp(),
    lambda: random_asm(),
    lambda: random_asm(stem="gmme"),
    lambda: random_asm(tstride=7),
], ids=["kwmlp", "asmrh", "asmrh-gmme", "asmrh-tstride7"])
def test_window_tokens_are_the_tokens_of_each_window(make):
    """What the API feeds the blocks (`window_tokens` of the clips' `window_source`; the
    ASMs' patch stem runs once per clip) is the windows' own `tokens`."""
    model = make()
    geo = model.geometry
    audio = torch.randn(2, geo.window_samples + 5 * geo.frame_hop)
    step = geo.frame_hop // geo.feature_hop  # feature frames per embedding frame
    with torch.no_grad():
        feats = model.features(audio)  # (2, bins, frames)
        clips = torch.tensor([0, 1, 1, 0, 1])
        starts = torch.tensor([0, 0, 3, 5, 5]) * step
        got = model.window_tokens(model.window_source(feats), clips, starts)
        windows = torch.stack([feats[c, :, s : s + geo.window_features]
                               for c, s in zip(clips.tolist(), starts.tolist())])
        torch.testing.assert_close(got, model.tokens(windows), atol=1e-5, rtol=0)


def test_geometry_refuses_an_embedding_hop_off_the_feature_frames():
    with pytest.raises(ValueError, match="not a multiple of feature_hop"):
        Geometry(16000, frame_hop=800, frame_length=2800, window_frames=17, embed_dim=96,
                 num_blocks=6, feature_hop=300, window_features=96)
