"""Scene embeddings from timestamp embeddings (KW-MLP paper, section 3.3 and Table 2)."""

import math

import torch
import torch.nn.functional as F

SCENE_STEPS = 16  # time steps kept; scene size = 16 x timestamp size (1024 for KW-MLP)


def iterative_interpolation(x: torch.Tensor, steps: int = SCENE_STEPS) -> torch.Tensor:
    """Halve the time axis by linear interpolation floor(log2(T / steps)) times, then one
    last interpolation to exactly `steps` (the HEAR 2021 kwmlp scene embedding)."""
    x = x.transpose(1, 2)  # (n, T, D) -> (n, D, T)
    length = x.shape[-1]
    for _ in range(max(0, math.floor(math.log2(length / steps)))):
        x = F.interpolate(x, size=x.shape[-1] // 2, mode="linear", align_corners=True)
    if x.shape[-1] != steps:
        x = F.interpolate(x, size=steps, mode="linear", align_corners=True)
    return x.transpose(1, 2)  # (n, steps, D)


def single_interpolation(x: torch.Tensor, steps: int = SCENE_STEPS) -> torch.Tensor:
    """One linear interpolation from T to `steps` (paper Table 2, "Interpolation")."""
    x = F.interpolate(x.transpose(1, 2), size=steps, mode="linear", align_corners=True)
    return x.transpose(1, 2)


def group_mean(x: torch.Tensor, steps: int = SCENE_STEPS) -> torch.Tensor:
    """Mean of `steps` consecutive groups of frames (paper Table 2, "Group Mean"); with
    fewer than `steps` frames, groups overlap (adaptive average pooling)."""
    return F.adaptive_avg_pool1d(x.transpose(1, 2), steps).transpose(1, 2)


POOLINGS = {
    "iterative": iterative_interpolation,
    "single": single_interpolation,
    "mean": group_mean,
}


def scene_embedding(x: torch.Tensor, method: str) -> torch.Tensor:
    """(n, T, D) timestamp embeddings -> (n, SCENE_STEPS * D), time-major when flattened."""
    return POOLINGS[method](x).flatten(1)
