"""Frontends: waveform -> features, run on the audio's device as submodules of a model."""

import torch

PIECE_ROWS = 4096  # frames per piece of a frontend's per-frame work


def in_pieces(fn, frames: torch.Tensor) -> torch.Tensor:
    """`fn` over (n, T, ...) frames in pieces along T, so that long clips (whole clips, as
    the API passes them) never hold more than PIECE_ROWS frames' spectra at once."""
    n, total = frames.shape[:2]
    step = max(1, PIECE_ROWS // n)
    if total <= step:
        return fn(frames)
    return torch.cat([fn(frames[:, t : t + step]) for t in range(0, total, step)], dim=1)
