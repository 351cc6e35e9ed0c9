"""Kaldi fbank features of every clip, computed once and kept on disk (float16 memmap).

The general trainer augments in the log-mel domain (`training.augment.augment_features`),
so no step recomputes a spectrogram: a batch is a gather of frames from this bank. A bank
lives in a cache folder (never in git), named by a digest of the clips' index, their audio
length and the fbank settings, so a changed data set or frontend gets a new bank.

    bank = FeatureBank.build(clips, FbankConfig(), "/tmp/hear_mixers_cache")
    bank.clip(i)  # (frames, mel) float16, frame k covers samples [160 k, 160 k + 400)
"""

import dataclasses
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hear_mixers.frontends.fbank import FbankConfig, KaldiFbank
from training.data import Clips

LOG_FLOOR = math.log(torch.finfo(torch.float32).eps)  # the fbank of silence (Kaldi's floor)
BATCH_SAMPLES = 1 << 21  # waveform samples per fbank call while building (~8 MB float32)


@dataclass
class FeatureBank:
    frames: np.ndarray  # (total_frames, mel) float16, every clip's fbank back to back
    starts: np.ndarray  # (N,) int64, first frame of clip i
    counts: np.ndarray  # (N,) int64, frames of clip i (>= 1)

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def num_mel_bins(self) -> int:
        return self.frames.shape[1]

    def clip(self, i: int) -> np.ndarray:
        s = int(self.starts[i])
        return self.frames[s : s + int(self.counts[i])]

    @staticmethod
    def key(clips: Clips, cfg: FbankConfig) -> str:
        """Digest naming a bank: the clips' index, their audio length and the fbank config."""
        h = hashlib.sha256()
        for column in (clips.starts, clips.lengths):
            h.update(np.ascontiguousarray(column).tobytes())
        h.update(str(len(clips.audio)).encode())
        h.update(json.dumps(dataclasses.asdict(cfg), sort_keys=True).encode())
        return h.hexdigest()[:16]

    @classmethod
    def build(cls, clips: Clips, cfg: FbankConfig, cache_dir, progress: bool = False) -> "FeatureBank":
        """The bank of `clips`, read from `cache_dir` when it is there, else computed there
        (written to a temporary name first, so an interrupted build leaves no bank)."""
        folder = Path(cache_dir) / f"fbank-{cls.key(clips, cfg)}"
        if (folder / "done").is_file():
            return cls.load(folder)
        folder.mkdir(parents=True, exist_ok=True)
        counts = 1 + (np.maximum(clips.lengths, cfg.frame_length) - cfg.frame_length) // cfg.frame_shift
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        tmp = folder / "frames.tmp.npy"
        frames = np.lib.format.open_memmap(tmp, "w+", np.float16, (int(counts.sum()), cfg.num_mel_bins))
        fbank = KaldiFbank(cfg)
        with torch.no_grad():  # one frame: which axis is time (the layout changed once)
            mel_last = fbank(torch.zeros(1, cfg.frame_length)).shape[1] == 1
        order = np.argsort(clips.lengths, kind="stable")  # equal lengths batch together
        groups = np.split(order, np.flatnonzero(np.diff(clips.lengths[order])) + 1)
        done, shown = 0, time.time()
        for group in groups:
            length = max(int(clips.lengths[group[0]]), cfg.frame_length)
            per_call = max(1, BATCH_SAMPLES // length)
            for b in range(0, len(group), per_call):
                rows = group[b : b + per_call]
                audio = np.zeros((len(rows), length), np.float32)  # short clips: zero-padded
                for j, i in enumerate(rows):
                    clip = clips.clip(int(i))
                    audio[j, : len(clip)] = clip
                with torch.no_grad():
                    feats = fbank(torch.from_numpy(audio))
                feats = (feats if mel_last else feats.transpose(1, 2)).numpy()  # (rows, frames, mel)
                for j, i in enumerate(rows):
                    frames[starts[i] : starts[i] + counts[i]] = feats[j]
                done += len(rows)
                if progress and time.time() - shown > 10:
                    print(f"fbank cache: {done}/{len(clips)} clips", flush=True)
                    shown = time.time()
        frames.flush()
        del frames
        os.replace(tmp, folder / "frames.npy")
        np.savez(folder / "index.npz", starts=starts, counts=counts)
        (folder / "done").write_text(json.dumps(dataclasses.asdict(cfg)) + "\n")
        return cls.load(folder)

    @classmethod
    def load(cls, folder) -> "FeatureBank":
        folder = Path(folder)
        index = np.load(folder / "index.npz")
        return cls(np.load(folder / "frames.npy", mmap_mode="r"), index["starts"], index["counts"])
