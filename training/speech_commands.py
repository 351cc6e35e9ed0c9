"""The real Google Speech Commands v0.02, for users who own a copy (it is not downloaded here).

Expected layout (as extracted from speech_commands_v0.02.tar.gz):
    ROOT/<word>/<speaker>_nohash_<n>.wav   16 kHz mono, <= 1 s
    ROOT/validation_list.txt               "word/file.wav" per line -> split "valid"
    ROOT/testing_list.txt                  same -> split "test"; every other clip is "train"
    ROOT/_background_noise_/*.wav          long noise recordings
Only the 35 folders of `WORDS` are read; any other folder is ignored. Audio is kept as
stored (16-bit PCM read straight into int16, no float round trip).

    python -m training.speech_commands ROOT OUT_DIR   # -> OUT_DIR/words, OUT_DIR/noise
"""

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf

from training.data import SAMPLE_RATE, SPLITS, WORDS, Clips

NOISE_FOLDER = "_background_noise_"
LISTS = {"valid": "validation_list.txt", "test": "testing_list.txt"}


def _frames(path: Path) -> int:
    """Length of a 16 kHz mono file; ValueError naming the file otherwise."""
    info = sf.info(str(path))
    if info.samplerate != SAMPLE_RATE or info.channels != 1:
        raise ValueError(f"{path}: expected {SAMPLE_RATE} Hz mono, "
                         f"got {info.samplerate} Hz with {info.channels} channels")
    return info.frames


def read_clips(paths: list[Path], **columns) -> Clips:
    """Clips of 16 kHz mono files, read into one preallocated int16 array."""
    lengths = np.array([_frames(p) for p in paths], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)[: len(paths)]
    audio = np.zeros(int(lengths.sum()), dtype=np.int16)
    for path, start, length in zip(paths, starts, lengths):
        audio[start : start + length] = sf.read(str(path), dtype="int16")[0]
    return Clips(audio, starts, lengths, np.asarray(columns["labels"], dtype=np.int64),
                 *(np.asarray(columns[k], dtype=str) for k in ("split", "source", "voice")))


def speaker(path: Path) -> str:
    return path.stem.split("_nohash_")[0]


def load_speech_commands(root) -> tuple[Clips, Clips]:
    """(words, noise) Clips of a Speech Commands v0.02 folder; see the module docstring."""
    root = Path(root)
    word_dirs = [root / w for w in WORDS if (root / w).is_dir()]
    if not word_dirs:
        raise ValueError(f"{root} does not look like Speech Commands v0.02: "
                         f"no folder named after any of the 35 words (yes/, no/, ...)")
    missing = [name for name in LISTS.values() if not (root / name).is_file()]
    if missing:
        raise ValueError(f"{root} does not look like Speech Commands v0.02: "
                         f"missing {', '.join(missing)}")
    split_of = {}
    for split, name in LISTS.items():
        for line in (root / name).read_text().split():
            split_of[line.strip()] = split

    paths = [p for d in word_dirs for p in sorted(d.glob("*.wav"))]
    rel = [f"{p.parent.name}/{p.name}" for p in paths]
    words = read_clips(paths, labels=[WORDS.index(p.parent.name) for p in paths],
                       split=[split_of.get(r, "train") for r in rel],
                       source=["speech_commands"] * len(paths), voice=[speaker(p) for p in paths])

    noise_paths = sorted((root / NOISE_FOLDER).glob("*.wav"))
    noise = read_clips(noise_paths, labels=[-1] * len(noise_paths),
                       split=["train"] * len(noise_paths),
                       source=["speech_commands_noise"] * len(noise_paths),
                       voice=[p.stem for p in noise_paths])
    return words, noise


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Speech Commands v0.02 -> Clips folders")
    parser.add_argument("root", type=Path)
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    words, noise = load_speech_commands(args.root)
    words.save(args.out_dir / "words")
    noise.save(args.out_dir / "noise")
    for split in SPLITS:
        mask = words.split == split
        print(f"{split:<6}{int(mask.sum()):>7} clips {len(set(words.voice[mask])):>6} speakers")
    print(f"noise {len(noise):>7} files {noise.lengths.sum() / SAMPLE_RATE / 60:.1f} min; "
          f"saved to {args.out_dir}/words and {args.out_dir}/noise")


if __name__ == "__main__":
    main()
