"""The contract between an encoder and the HEAR API (`hear_mixers.api`).

The API knows an encoder only through `geometry`, `features`, `window_source`,
`window_tokens` and `forward_tokens`: it computes each clip's features once, takes the
tokens of windows of `geometry.window_features` frames (a window of
`geometry.window_samples` of audio) from them, gets `geometry.window_frames` embedding frames
per window and block, and stamps them from the frame hop and length. It never reads a
config.

The frontend is split where a window's features stop being a slice of its clip's: `features`
is the frame-local part (feature frame k depends only on the samples of its own analysis
frame, which starts at k * feature_hop), so windows that overlap share their features;
`tokens` does the rest per window (a normalisation over the window, the stem). An encoder
whose stem is itself a slice of the clip's (a strided patch embedding with windows starting
on its stride) computes it once per clip instead (`window_source`, `window_tokens`).
"""

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Geometry:
    """How one encoder window maps to embedding frames. Frame k of a window covers samples
    [k * frame_hop, k * frame_hop + frame_length) of it; the API stamps it at the centre."""

    sample_rate: int  # Hz
    frame_hop: int  # samples between embedding frames
    frame_length: int  # samples one embedding frame covers
    window_frames: int  # embedding frames per window
    embed_dim: int  # width of one block's embedding
    num_blocks: int  # depths 1..num_blocks can be asked for
    feature_hop: int  # samples between frames of `Encoder.features` (divides frame_hop)
    window_features: int  # frames of `Encoder.features` in one window

    def __post_init__(self):
        if self.frame_hop % self.feature_hop:
            raise ValueError(f"frame_hop {self.frame_hop} is not a multiple of feature_hop "
                             f"{self.feature_hop}: windows would not start on a feature frame")

    @property
    def window_samples(self) -> int:
        """Samples of one window: the span of its frames."""
        return (self.window_frames - 1) * self.frame_hop + self.frame_length


class Encoder(nn.Module):
    """Base of the encoders: `features` -> `tokens` -> `blocks` -> (final `norm` after the
    last block) -> `to_frames`. Subclasses set `arch`, `geometry`, `frontend` (audio windows
    -> (n, bins, frames) features, the training input), `blocks` and `norm`, and define
    `features`, `tokens` and `patchify`."""

    arch: str
    geometry: Geometry

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        """(n, samples) clips of any length >= one feature frame -> (n, bins, frames): the
        frame-local part of the frontend."""
        raise NotImplementedError

    def tokens(self, feats: torch.Tensor) -> torch.Tensor:
        """(n, bins, window_features) features of windows -> the first block's input
        tokens: the rest of the frontend, then `patchify`."""
        raise NotImplementedError

    def patchify(self, features: torch.Tensor) -> torch.Tensor:
        """(n, bins, frames) frontend features -> the first block's input tokens."""
        raise NotImplementedError

    def to_frames(self, x: torch.Tensor) -> torch.Tensor:
        """A block's output -> (n, window_frames, embed_dim); tokens are frames by default."""
        return x

    def forward_intermediates(self, audio: torch.Tensor, depths: list[int]) -> list[torch.Tensor]:
        """(n, window_samples) audio windows -> one (n, window_frames, embed_dim) tensor per
        requested depth (see `forward_tokens`)."""
        size = self.geometry.window_samples
        if audio.shape[-1] != size:
            raise ValueError(f"{self.arch} takes windows of {size} samples, got {audio.shape[-1]}")
        with torch.autocast(audio.device.type, enabled=False):
            feats = self.features(audio)  # (n, bins, window_features)
        return self.forward_features(feats, depths)

    def forward_features(self, feats: torch.Tensor, depths: list[int]) -> list[torch.Tensor]:
        """(n, bins, window_features) -> one (n, window_frames, embed_dim) tensor per depth."""
        # under autocast (precision="bf16"/"fp16") the blocks' matmuls run in reduced precision,
        # but the frontend, the stem and the residual stream stay float32: rounding the
        # features to bf16 before the stem moved the embeddings most (docs/embeddings.md)
        with torch.autocast(feats.device.type, enabled=False):
            x = self.tokens(feats)  # float32 tokens; x + block(x) stays float32
        return self.forward_tokens(x, depths)

    def window_source(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, bins, F) features of whole clips -> what `window_tokens` takes windows from:
        by default the features themselves."""
        return feats

    def window_tokens(self, source: torch.Tensor, clips: torch.Tensor,
                      starts: torch.Tensor) -> torch.Tensor:
        """Tokens of n windows, window i starting at feature frame starts[i] of clip
        clips[i] (both (n,)), from `window_source`'s output -> the first block's input; the
        same as `tokens` of the windows' features."""
        frames = self.geometry.window_features
        windows = source.unfold(2, frames, 1)[clips, :, starts]  # (n, bins, window_features)
        return self.tokens(windows)

    def forward_tokens(self, x: torch.Tensor, depths: list[int]) -> list[torch.Tensor]:
        """The first block's input tokens -> one (n, window_frames, embed_dim) tensor per depth.

        Depth d is the output of block d; the last block's output also passes the trained
        final norm, as in the classifier. Blocks after max(depths) are not run.
        """
        out = {}
        for d, block in enumerate(self.blocks[: max(depths)], start=1):
            x = block(x)
            if d in depths:
                out[d] = self.to_frames(self.norm(x) if d == self.geometry.num_blocks else x)
        return [out[d] for d in depths]
