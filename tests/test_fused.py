"""The fused linear kernel (hear_mixers/models/fused.py) computes what the plain layers do.

Measured on CPU (torch 2.13, oneDNN): in float32 the fused kernel equals F.linear + GELU bit
for bit; in bfloat16 its activation sees the unrounded product, so it differs from the
plain layers by bf16 rounding. FP32_TOL leaves room for other oneDNN builds.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import random_asm
from hear_mixers.models import fused

FP32_TOL = dict(atol=1e-5, rtol=1e-5)
BF16_TOL = dict(atol=0.05, rtol=0.02)  # a few bf16 ulps at values up to ~5
needs_onednn = pytest.mark.skipif(fused.KERNEL is None or not torch.backends.mkldnn.is_available(),
                                  reason="torch built without oneDNN")


def layer(n_in: int, n_out: int, seed: int = 0) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(n_in, n_out)


def plain(x, lin, act):
    y = F.linear(x, lin.weight, lin.bias)
    return y if act is None else act(y)


@needs_onednn
@pytest.mark.parametrize("act", [nn.GELU(), nn.GELU(approximate="tanh"), None])
@pytest.mark.parametrize("transposed", [False, True])
def test_fused_equals_plain_in_float32(act, transposed):
    lin = layer(40, 24)
    x = torch.randn(3, 40, 17).transpose(1, 2) if transposed else torch.randn(3, 17, 40)
    with torch.no_grad():
        ours = fused.linear(x, lin.weight, lin.bias, act)
        ref = plain(x, lin, act)
    assert ours.shape == ref.shape == (3, 17, 24) and ours.dtype == torch.float32
    torch.testing.assert_close(ours, ref, **FP32_TOL)


@needs_onednn
def test_fused_under_bf16_autocast_gives_bf16_within_rounding():
    lin, x = layer(96, 384), torch.randn(64, 96)
    with torch.no_grad():
        exact = plain(x, lin, nn.GELU())
        with torch.autocast("cpu", dtype=torch.bfloat16):
            ours = fused.linear(x, lin.weight, lin.bias, nn.GELU())
            ref = plain(x, lin, nn.GELU())
    assert ours.dtype == ref.dtype == torch.bfloat16
    torch.testing.assert_close(ours.float(), ref.float(), **BF16_TOL)
    # the activation of the unrounded product is at least as close to float32
    assert (ours.float() - exact).norm() <= (ref.float() - exact).norm() * 1.01


def test_training_and_other_activations_run_the_plain_layers():
    lin, x = layer(8, 4), torch.randn(5, 8, requires_grad=True)
    out = fused.linear(x, lin.weight, lin.bias, nn.GELU())  # grad enabled: autograd works
    out.sum().backward()
    assert x.grad is not None and lin.weight.grad is not None
    with torch.no_grad():  # no oneDNN equivalent: the plain layers, the same numbers
        for act in (nn.Mish(), nn.SiLU()):
            assert torch.equal(fused.linear(x, lin.weight, lin.bias, act), plain(x, lin, act))
        x64 = x.double()  # a float64 model: plain layers
        out64 = fused.linear(x64, lin.weight.double(), lin.bias.double(), nn.GELU())
        assert out64.dtype == torch.float64


@needs_onednn
def test_asm_blocks_without_autograd_match_the_training_path():
    model = random_asm()
    x = torch.randn(4, model.cfg.num_tokens, model.cfg.dim)
    block = model.blocks[1]
    with torch.no_grad():
        fast = block(x)
    slow = block(x)  # grad enabled: plain layers
    assert slow.requires_grad and not fast.requires_grad
    torch.testing.assert_close(fast, slow, **FP32_TOL)
