"""Embeddings of audio of any length, fed as a stream of blocks and embedded in pieces of
bounded size, frame for frame those of `get_timestamp_embeddings` on the whole clip.

Why the pieces agree with the whole clip (see the seam rules in hear_mixers.api): the API
starts its windows on a grid of `step = window_frames - 2 * seam_context` frames and aligns
only the last window to the end of the audio. A piece that starts on that grid and holds
exactly `windows` grid windows (`(windows - 1) * step + window_frames` frames) is windowed by
the API on the same grid; every frame of it from `seam_context` on, up to `seam_context` from
its end, is read from the window the whole clip would use, provided the clip goes on past the
piece (so that the clip's end-aligned window is not among them). The next piece starts
`windows * step` frames later, so the kept frames tile the clip. The tail, taken once the
stream ends, starts one grid window before the first frame not yet kept, so it always spans
at least one whole window and ends with the clip's own end-aligned window.
Frames are small (KW-MLP: 64 floats per 10 ms), so they are kept and a scene embedding is
pooled once from all of them, as for the whole clip.
"""

from typing import Callable, Iterable, Optional

import numpy as np
import torch

from hear_mixers.api import get_timestamp_embeddings
from hear_mixers.pooling import scene_embedding

PIECE_WINDOWS = 64  # grid windows per piece (KW-MLP: 42 s of audio); at 256, one 1-hour
# file's peak RSS was ~35 MB higher, at the same speed


class FrameStream:
    """Feed (n,) float32 blocks at the model's rate with add(); finish() returns the
    (T, timestamp_embedding_size) float32 frames of the whole stream."""

    def __init__(self, model, windows: Optional[int] = None, expected_samples: int = 0,
                 on_piece: Optional[Callable[[int], None]] = None):
        windows = windows or PIECE_WINDOWS
        geo = model.encoder.geometry
        self.model, self.windows, self.on_piece = model, windows, on_piece
        self.hop, self.frame_length = geo.frame_hop, geo.frame_length
        self.margin = model.seam_context
        self.step = geo.window_frames - 2 * self.margin  # frames between grid windows
        self.piece_frames = windows * self.step + 2 * self.margin
        self.piece_samples = (self.piece_frames - 1) * self.hop + self.frame_length
        self.next_window = 0  # grid window where the next piece starts
        self.buffer_window = 0  # grid window where the buffer starts (next_window - 1 or 0)
        self.buffer = np.empty(0, np.float32)  # samples from buffer_window's first sample on
        self.samples = 0  # samples fed in all
        size = model.timestamp_embedding_size
        self.frames = np.empty((model.num_frames(expected_samples) if expected_samples else 0,
                                size), np.float32)  # (capacity, D), grown when needed
        self.kept = 0  # frames of self.frames filled

    def _offset(self) -> int:
        """Samples in the buffer before the next piece's start."""
        return (self.next_window - self.buffer_window) * self.step * self.hop

    def add(self, block: np.ndarray) -> None:
        self.samples += len(block)
        self.buffer = np.concatenate([self.buffer, block]) if len(self.buffer) else block
        # a whole piece, and at least one frame past it (the clip goes on)
        while len(self.buffer) - self._offset() >= self.piece_samples + self.hop:
            start = self._offset()
            first = 0 if self.next_window == 0 else self.margin
            frames = self._embed(self.buffer[start:start + self.piece_samples])
            self._keep(frames[first:self.windows * self.step + self.margin])
            self.next_window += self.windows
            drop = (self.next_window - 1 - self.buffer_window) * self.step * self.hop
            self.buffer = self.buffer[drop:].copy()  # a copy: the old buffer is freed
            self.buffer_window = self.next_window - 1
            if self.on_piece:
                self.on_piece(self.samples)

    def finish(self) -> np.ndarray:
        """(T, D) float32: every frame of the stream, T = model.num_frames(samples)."""
        if self.samples == 0:
            raise ValueError("no audio to embed")
        frames = self._embed(self.buffer)  # the tail, from buffer_window to the end
        first = 0 if self.next_window == 0 else self._offset() // self.hop + self.margin
        self._keep(frames[first:])
        self.buffer = np.empty(0, np.float32)
        expected = self.model.num_frames(self.samples)
        assert self.kept == expected, (self.kept, expected)  # the pieces tile the clip
        return self.frames[:self.kept]

    def _embed(self, audio: np.ndarray) -> np.ndarray:
        embeddings, _ = get_timestamp_embeddings(torch.from_numpy(audio)[None], self.model)
        return embeddings[0].float().cpu().numpy()  # (T_piece, D)

    def _keep(self, frames: np.ndarray) -> None:
        end = self.kept + len(frames)
        if end > len(self.frames):  # grow by half again: amortised, few copies
            grown = np.empty((max(end, len(self.frames) * 3 // 2), self.frames.shape[1]),
                             np.float32)
            grown[:self.kept] = self.frames[:self.kept]
            self.frames = grown
        self.frames[self.kept:end] = frames
        self.kept = end


def embed_blocks(blocks: Iterable[np.ndarray], model, mode: str, expected_samples: int = 0,
                 windows: Optional[int] = None, on_piece=None) -> dict:
    """Blocks of one clip -> float32 numpy arrays, as cli._embed gives for one clip: mode
    "scene" {"embedding": (scene_embedding_size,)}; "timestamps" {"embedding": (T, D),
    "timestamps": (T,) ms}; "both" {"embedding": (scene size,), "frames": (T, D),
    "timestamps": (T,)}."""
    stream = FrameStream(model, windows, expected_samples, on_piece)
    for block in blocks:
        stream.add(block)
    frames = stream.finish()  # (T, D)
    result = {}
    if mode in ("scene", "both"):
        with torch.no_grad():
            scene = scene_embedding(torch.from_numpy(frames)[None], model.scene_pooling)
        result["embedding"] = scene[0].numpy()
    if mode in ("timestamps", "both"):
        result["frames" if mode == "both" else "embedding"] = frames
        result["timestamps"] = model.timestamps(stream.samples, torch.device("cpu")).numpy()
    return result
