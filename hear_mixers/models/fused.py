"""A linear layer and its activation as one oneDNN kernel, for inference on CPU.

torch's oneDNN build has `mkldnn._linear_pointwise` (the op torch.compile's CPU backend emits
for a linear layer followed by an activation): matmul, bias and activation in one kernel.
The output is written once, instead of the bias being copied into it before the matmul and
the activation reading and writing it again; and the activation sees the float32
accumulator, before the result is rounded to bfloat16 under autocast.

`linear` uses it only where it computes what the plain layers compute: without autograd, on
a CPU with oneDNN, in float32 (the same numbers as `act(F.linear(...))`, tests/test_fused.py)
or in bfloat16 (the activation of the unrounded product: within bf16 rounding of the plain
layers, and nearer to float32). Everywhere else (training, GPUs, fp16, other activations)
the plain layers run.
"""

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

# the kernel, or None; also read by benchmarks/flops.py, which counts its FLOPs
try:
    KERNEL = torch.ops.mkldnn._linear_pointwise.default
except (AttributeError, RuntimeError):  # a torch built without oneDNN
    KERNEL = None


def _post_op(act: Optional[nn.Module]) -> Optional[tuple]:
    """oneDNN's (name, scalars, algorithm) for `act`, or None where it has no equivalent."""
    if act is None:
        return ("none", [], "")
    if type(act) is nn.GELU:
        return ("gelu", [], act.approximate)  # "none" (erf) or "tanh"
    return None


def _fused_dtype(x: torch.Tensor) -> Optional[torch.dtype]:
    """The dtype the fused kernel would run in, or None where the plain layers must run."""
    if (KERNEL is None or x.device.type != "cpu" or torch.is_grad_enabled()
            or not torch.backends.mkldnn.is_available() or not torch.backends.mkldnn.enabled):
        return None
    dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else x.dtype
    return dtype if dtype in (torch.float32, torch.bfloat16) else None


def input_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype `linear` would cast x to: its kernel's dtype, else x's own."""
    return _fused_dtype(x) or x.dtype


def linear(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
           act: Optional[nn.Module] = None) -> torch.Tensor:
    """act(F.linear(x, weight, bias)) ((..., in) -> (..., out)); `act` None: no activation."""
    post, dtype = _post_op(act), _fused_dtype(x)
    if post is None or dtype is None:
        y = F.linear(x, weight, bias)
        return y if act is None else act(y)
    bias = None if bias is None else bias.to(dtype)
    return KERNEL(x.to(dtype), weight.to(dtype), bias, *post)
