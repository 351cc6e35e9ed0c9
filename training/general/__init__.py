"""The multi-domain training set (speech, music, environmental sound and their mixtures):
clips in `training.data.Clips` plus one integer label per head and clip.

A folder written by `python -m training.general_data` holds
  audio.npy, index.npz  the clips (`Clips.load`): 16 kHz int16 back to back; `split` is
                        train/valid, `source` the package (or speech engine) a clip comes
                        from, `voice` the recording or voice id (a mixture's is "A|B"), so a
                        split holds recordings out whole; `labels` repeats the keyword head
  heads.npz             head name -> (N,) int64 class index, -1 where the head does not apply
  heads.json            head name -> its class names, in index order
  licences.json         per source: version, licences, files and seconds used
  summary.json          sizes, counts per source and split, build time, notes
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.data import WORDS, Clips
from training.general.effects import SOUND_CLASSES
from training.general.music import DRUMS, HARMONY, INSTRUMENTS, PITCHES, VELOCITIES
from training.general.speech import LANGUAGES

DOMAINS = ("speech", "music", "environment", "speech+environment", "music+environment",
           "speech+music")
HEADS: dict[str, tuple[str, ...]] = {
    "domain": DOMAINS,  # every clip
    "keyword": tuple(WORDS),  # synthetic keyword corpus
    "language": LANGUAGES,  # klettres-data
    "pitch": tuple(str(p) for p in PITCHES),  # rendered notes, intervals and chords (lowest)
    "instrument": INSTRUMENTS,  # GM family of rendered music, or "drum kit"
    "velocity": VELOCITIES,  # rendered music, not in mixtures (they are rescaled)
    "harmony": HARMONY,  # single note, interval, chord quality, phrase
    "drum": DRUMS,  # rendered drum hits
    "sound_class": SOUND_CLASSES,  # mapped effects and ambiences
}


@dataclass
class GeneralData:
    clips: Clips
    heads: dict[str, np.ndarray]  # name -> (N,) int64, -1 where the head does not apply
    vocab: dict[str, tuple[str, ...]]  # name -> class names

    def __len__(self) -> int:
        return len(self.clips)

    def names(self, head: str) -> list[str | None]:
        """Class name of every clip for `head` (None where it does not apply)."""
        vocab = self.vocab[head]
        return [vocab[i] if i >= 0 else None for i in self.heads[head].tolist()]

    def subset(self, mask: np.ndarray) -> "GeneralData":
        return GeneralData(self.clips.subset(mask), {k: v[mask] for k, v in self.heads.items()},
                           self.vocab)

    @classmethod
    def load(cls, folder) -> "GeneralData":
        folder = Path(folder)
        if not (folder / "heads.npz").exists():
            raise FileNotFoundError(f"{folder} holds no heads.npz: not a general data folder "
                                    "(python -m training.general_data builds one)")
        clips = Clips.load(folder)
        with np.load(folder / "heads.npz", allow_pickle=False) as f:
            heads = {k: f[k].astype(np.int64) for k in f.files}
        vocab = {k: tuple(v) for k, v in json.loads((folder / "heads.json").read_text()).items()}
        for name, labels in heads.items():
            if len(labels) != len(clips):
                raise ValueError(f"head {name}: {len(labels)} labels for {len(clips)} clips")
            if labels.max(initial=-1) >= len(vocab[name]) or labels.min(initial=-1) < -1:
                raise ValueError(f"head {name}: labels outside its {len(vocab[name])} classes")
        return cls(clips, heads, vocab)
