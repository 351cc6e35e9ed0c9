"""benchmarks/precision.py's TF32 emulation, which stands in for CUDA TF32 on a CPU."""

import torch

from benchmarks.precision import EmulatedTF32, round_to_tf32


def test_round_to_tf32_keeps_10_mantissa_bits_with_ties_to_even():
    # exact, exact, tie -> even (down), tie -> even (up), below half, pi, zero, subnormal
    x = torch.tensor([1.0, 1 + 2**-10, 1 + 2**-11, 1 + 3 * 2**-11, 1 + 2**-12, -3.14159265, 0.0,
                      2.0**-130])
    want = torch.tensor([1.0, 1 + 2**-10, 1.0, 1 + 2**-9, 1.0, -3.140625, 0.0, 2.0**-130])
    assert torch.equal(round_to_tf32(x), want)
    y = torch.randn(1000)
    r = round_to_tf32(y)
    assert torch.equal(round_to_tf32(r), r)  # idempotent
    assert ((r - y).abs() <= y.abs() * 2**-11).all()  # half an ulp of a 10-bit mantissa


def test_emulation_rounds_the_factors_not_the_addend():
    a = torch.full((1, 1, 1), 1 + 2**-12)
    bias = torch.full((1, 1, 1), 2**-12)
    mode = EmulatedTF32()
    with mode:
        out = torch.baddbmm(bias, a, torch.ones(1, 1, 1))
        lin = torch.nn.functional.linear(a, torch.ones(1, 1))
        mm = a[0] @ torch.ones(1, 1)
    assert out.item() == 1 + 2**-12  # 1 (rounded factor) + the exact addend
    assert lin.item() == mm.item() == 1.0
    assert mode.calls == 3
