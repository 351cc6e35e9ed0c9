"""One container for every set of training clips: synthetic words, real Speech Commands,
background noise. Clips are stored back to back as 16 kHz int16 in one array."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
# Speech Commands V2-35, in the label order of the KW-MLP checkpoints (sorted).
WORDS = sorted(
    "backward bed bird cat dog down eight five follow forward four go happy house learn left "
    "marvin nine no off on one right seven sheila six stop three tree two up visual wow yes "
    "zero".split()
)
SPLITS = ("train", "valid", "test")


@dataclass
class Clips:
    audio: np.ndarray  # (total,) int16, every clip back to back, 16 kHz mono
    starts: np.ndarray  # (N,) int64, first sample of clip i in `audio`
    lengths: np.ndarray  # (N,) int64, samples in clip i
    labels: np.ndarray  # (N,) int64, index into WORDS; -1 for unlabelled audio (noise)
    split: np.ndarray  # (N,) str, "train" / "valid" / "test"
    source: np.ndarray  # (N,) str, engine or Debian package the clip comes from
    voice: np.ndarray  # (N,) str, voice (or file) within the source; held out whole

    def __len__(self) -> int:
        return len(self.starts)

    def clip(self, i: int) -> np.ndarray:
        """Clip i as float32 in [-1, 1]."""
        s = int(self.starts[i])
        return self.audio[s : s + int(self.lengths[i])].astype(np.float32) / 32768

    def subset(self, mask: np.ndarray) -> "Clips":
        """The clips where `mask` holds; `audio` is shared, not copied."""
        return Clips(self.audio, *(a[mask] for a in self._index()))

    def _index(self):
        return self.starts, self.lengths, self.labels, self.split, self.source, self.voice

    def save(self, folder, write_audio: bool = True) -> None:
        """audio.npy and index.npz; `write_audio=False` writes the index only (for a caller
        that streamed audio.npy itself)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if write_audio:
            np.save(folder / "audio.npy", self.audio)
        np.savez(folder / "index.npz", **dict(zip(_INDEX, self._index())))

    @classmethod
    def load(cls, folder) -> "Clips":
        folder = Path(folder)
        index = np.load(folder / "index.npz", allow_pickle=False)
        return cls(np.load(folder / "audio.npy", mmap_mode="r"), *(index[k] for k in _INDEX))

    @classmethod
    def concat(cls, parts: list["Clips"]) -> "Clips":
        offsets = np.cumsum([0] + [len(p.audio) for p in parts[:-1]])
        return cls(
            np.concatenate([p.audio for p in parts]),
            np.concatenate([p.starts + o for p, o in zip(parts, offsets)]),
            *(np.concatenate([p._index()[k] for p in parts]) for k in range(1, 6)),
        )

    @classmethod
    def from_list(cls, clips: list[np.ndarray], **columns) -> "Clips":
        """Build from float clips in [-1, 1] and equal-length columns (labels, split, ...)."""
        lengths = np.array([len(c) for c in clips], dtype=np.int64)
        audio = np.concatenate(clips) if clips else np.zeros(0, np.float32)
        audio = np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        cols = {k: np.asarray(columns[k]) for k in _INDEX[2:]}
        return cls(audio, starts[: len(clips)], lengths, cols["labels"].astype(np.int64),
                   *(cols[k].astype(str) for k in _INDEX[3:]))


_INDEX = ("starts", "lengths", "labels", "split", "source", "voice")
