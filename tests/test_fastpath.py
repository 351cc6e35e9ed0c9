"""The inference fast path (grad disabled) computes what the training path computes.

Measured on CPU (torch 2.13, MKL, 1 and 2 threads): the fast encoder path equals the training
path bit for bit at every depth and batch size tried; FAST_TOL leaves room for other BLAS
libraries and GPU kernels. The FFT MFCC frontend against nnAudio's convolution STFT: max abs
difference 1.5e-4 on MFCCs reaching ~480 (quiet input), MFCC_ATOL leaves room for other FFTs.
"""

import pytest
import torch

from conftest import random_kwmlp
from hear_mixers.frontends.mfcc import MFCC
from hear_mixers.models.kwmlp import GMLPBlock

FAST_TOL = dict(atol=1e-5, rtol=1e-5)
MFCC_ATOL = 1e-3


def clips(n: int, seconds: float = 1.0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(n)
    return 0.1 * torch.randn(n, int(16000 * seconds), generator=gen)


@pytest.mark.parametrize("batch", [1, 3, 17, 64])
def test_fast_path_equals_training_path(batch):
    model = random_kwmlp()
    audio = clips(batch)
    depths = [1, 4, 8, 12]
    with torch.no_grad():
        fast = model.forward_intermediates(audio, depths)
    slow = model.forward_intermediates(audio, depths)  # grad enabled: the training path
    assert all(s.requires_grad for s in slow) and not any(f.requires_grad for f in fast)
    for f, s in zip(fast, slow):
        torch.testing.assert_close(f, s, **FAST_TOL)


@pytest.mark.parametrize("depths", [[1], [4], [12], [8, 2], [4, 8, 12]])
def test_forward_intermediates_unchanged_at_every_depth(depths):
    model = random_kwmlp()
    audio = clips(5)
    with torch.inference_mode():  # inference mode disables grad too
        fast = model.forward_intermediates(audio, depths)
    slow = model.forward_intermediates(audio, depths)
    for d, f, s in zip(depths, fast, slow):
        assert f.shape == (5, 98, 64)
        torch.testing.assert_close(f, s, **FAST_TOL, msg=f"depth {d}")


def test_block_fast_path_on_its_own():
    block = random_kwmlp().blocks[3]
    x = torch.randn(6, 98, 64)
    with torch.no_grad():
        fast = block(x)
        direct = block.forward_inference(x)
    torch.testing.assert_close(fast, direct, atol=0, rtol=0)
    torch.testing.assert_close(fast, block(x), **FAST_TOL)


def test_grad_enabled_forward_uses_the_differentiable_path(monkeypatch):
    model = random_kwmlp()  # eval: no block dropped

    def refuse(self, x):
        raise AssertionError("inference path used with grad enabled")

    monkeypatch.setattr(GMLPBlock, "forward_inference", refuse)
    model(clips(4)).logsumexp(-1).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_eval_gradients_flow_through_forward_intermediates():
    model = random_kwmlp()
    (out,) = model.forward_intermediates(clips(2), [6])
    out.square().mean().backward()
    assert model.blocks[5].sgu.proj.weight.grad.abs().sum() > 0
    assert model.blocks[6].sgu.proj.weight.grad is None  # not run


@pytest.mark.parametrize("kind", ["noise", "quiet", "half-silent", "clipped", "2.5s"])
def test_fft_frontend_matches_nnaudio(kind):
    from nnAudio.features import MFCC as NNAudioMFCC

    reference = NNAudioMFCC(
        sr=16000, n_mfcc=40, n_mels=40, n_fft=480, win_length=480, hop_length=160,
        center=False, verbose=False,
    )
    audio = {
        "noise": clips(8),
        "quiet": 1e-4 * clips(3),
        "half-silent": torch.cat([torch.zeros(3, 8000), clips(3)[:, 8000:]], 1),
        "clipped": (30 * clips(3)).clamp(-1, 1),
        "2.5s": clips(2, 2.5),
    }[kind]
    ours, ref = MFCC()(audio), reference(audio)
    assert ours.shape == ref.shape and ours.dtype == torch.float32
    torch.testing.assert_close(ours, ref, atol=MFCC_ATOL, rtol=0)


def test_frontend_stays_float32_under_autocast():
    frontend, audio = MFCC(), clips(3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = frontend(audio)
    assert low.dtype == torch.float32
    torch.testing.assert_close(low, frontend(audio), atol=0, rtol=0)


def test_encoder_runs_under_bf16_autocast():
    model = random_kwmlp()
    audio = clips(4)
    with torch.no_grad():
        (ref,) = model.forward_intermediates(audio, [12])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            (low,) = model.forward_intermediates(audio, [12])
    assert low.shape == ref.shape and torch.isfinite(low).all()
    cos = torch.nn.functional.cosine_similarity(low.float(), ref, dim=-1)
    assert cos.min() > 0.99  # measured > 0.999 on the shipped weights


def test_time_mixing_under_autocast_casts_weights_not_broadcast_copies():
    """Under autocast the gate's time mixing casts its (T, T) weight and (T,) bias before
    expanding them over the batch: same numbers as letting autocast cast the expanded views,
    without writing (n, T, T) and (n, T, c) copies."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class CastShapes(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.shapes = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if func is torch.ops.aten._to_copy.default:
                self.shapes.append(tuple(out.shape))
            return out

    sgu = random_kwmlp().blocks[3].sgu
    res, gate = torch.randn(2, 5, 98, 128).unbind(0)
    n, t, c = gate.shape
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        casts = CastShapes()
        with casts:
            ours = sgu.forward_split(res.clone(), gate)
        bias = sgu.proj.bias[:, None].expand(n, t, c)  # autocast casts these views itself
        ref = torch.baddbmm(bias, sgu.proj.weight.expand(n, t, t), sgu.norm(gate)).mul_(res)
    assert ours.dtype == torch.bfloat16
    torch.testing.assert_close(ours, ref, atol=0, rtol=0)
    assert (t, t) in casts.shapes and (t,) in casts.shapes
    assert not any(len(s) == 3 and s[0] == n and s != (n, t, c) for s in casts.shapes)
    assert casts.shapes.count((n, t, c)) == 1  # the normalised gate, cast for the matmul


def test_blocks_run_on_devices_without_autocast():
    # the autocast query in the time mixing must not fail where autocast does not exist
    # ("meta": shape inference, as FLOP counters use)
    block = random_kwmlp().blocks[0].to("meta")
    with torch.no_grad():
        out = block(torch.empty(2, 98, 64, device="meta"))
    assert out.shape == (2, 98, 64) and out.device.type == "meta"
