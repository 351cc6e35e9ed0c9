"""What every task builder shares: the HEAR task writer, seeded random streams, audio helpers.

A task folder `<out>/<name>-v1-<size>/` holds (heareval's format, see heareval's
`embeddings/task_embeddings.py` and `predictions/task_predictions.py`):
  task_metadata.json   task_name, version, embedding_type, prediction_type, split_mode,
                       sample_duration, evaluation, mode (= size), splits, plus notes
  labelvocabulary.csv  idx,label
  <split>.json         {"00012.wav": ["yes"]} (scene) or {"00012.wav": [{"label", "start",
                       "end"}]} (event, ms)
  <rate>/<split>/*.wav mono PCM-16 at every requested rate
  sources.json         per file: split and where its audio comes from (voice, sample file,
                       licence); not read by heareval
File names are unique over the whole task (k-fold runs merge the folds' files).
"""

import json
import shutil
import subprocess
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from training import noise  # licence helpers (package_stanzas, file_licence)

VERSION = "v1"
SIZES = ("tiny", "full")
MAX_PEAK = 0.99


def rng(seed: int, *keys: str) -> np.random.Generator:
    """A random stream for (seed, purpose): streams don't shift each other's draws."""
    return np.random.default_rng([seed, *(zlib.crc32(k.encode()) for k in keys)])


def resample(audio: np.ndarray, rate_in: int, rate_out: int, length: int) -> np.ndarray:
    """(n,) float at rate_in -> (length,) float32 at rate_out, padded or cut, within [-1, 1]."""
    out = audio if rate_in == rate_out else soxr.resample(audio, rate_in, rate_out)
    out = np.pad(out[:length], (0, max(0, length - len(out))))
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def place(clip: np.ndarray, sound: np.ndarray, start: int) -> None:
    """Add `sound` into `clip` from sample `start` on, cut at the clip's end (in place)."""
    part = sound[: max(0, len(clip) - start)]
    clip[start : start + len(part)] += part


def rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if len(audio) else 0.0


def db(value: float) -> float:
    """Gain factor of a level in dB."""
    return float(10 ** (value / 20))


def fade_out(audio: np.ndarray, samples: int) -> np.ndarray:
    """A copy with a linear fade over its last `samples` samples."""
    out = audio.copy()
    n = min(samples, len(out))
    if n:
        out[-n:] *= np.linspace(1.0, 0.0, n, dtype=np.float32)
    return out


def coloured_noise(n: int, exponent: float, r: np.random.Generator) -> np.ndarray:
    """(n,) float32 noise of unit RMS with power ~ 1 / f**exponent (0 white, 1 pink, 2 brown)."""
    spectrum = np.fft.rfft(r.standard_normal(n))
    freqs = np.arange(len(spectrum), dtype=np.float64)
    freqs[0] = 1.0
    noise = np.fft.irfft(spectrum / freqs ** (exponent / 2), n)
    return (noise / max(rms(noise), 1e-12)).astype(np.float32)


def segment(audio: np.ndarray, n: int, r: np.random.Generator) -> np.ndarray:
    """A random (n,) window of `audio`, looped when `audio` is shorter, scaled by 1 / the
    RMS of all of `audio` (a quiet passage stays quiet)."""
    scale = 1.0 / max(rms(audio), 1e-12)
    if len(audio) < n:
        audio = np.tile(audio, n // len(audio) + 1)
    start = int(r.integers(0, len(audio) - n + 1))
    return (audio[start : start + n] * scale).astype(np.float32)


AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus")


def package_files(package: str) -> list[str]:
    """Every audio file the Debian package installed, sorted; [] when it is not installed."""
    try:
        listing = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True,
                                 check=True).stdout.splitlines()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return []
    return [p for p in sorted(listing)
            if p.lower().endswith(AUDIO_SUFFIXES) and Path(p).is_file()]


def package_version(package: str) -> str:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package],
                         capture_output=True, text=True, check=False)
    return out.stdout.strip() or "unknown"


# sonic-pi's ambience samples (ambi_*, vinyl_*) of at least this length: background sound
MIN_AMBIENCE_S = 2.0
AMBIENCE_PREFIXES = ("ambi_", "vinyl_")


def ambience(read: Callable[[str], np.ndarray], rate: int) -> list[tuple[str, np.ndarray]]:
    """(path, (n,) float32 audio at `rate`) of sonic-pi-samples' ambience files of at least
    MIN_AMBIENCE_S, read with `read(path)`; [] when the package is not installed."""
    files = package_files("sonic-pi-samples")
    stanzas = noise.package_stanzas("sonic-pi-samples") if files else []
    found = []
    for path in files:  # files of a licence the copyright file names (CC0, MIT)
        if (Path(path).name.startswith(AMBIENCE_PREFIXES)
                and noise.file_licence(path, stanzas) != "unknown"):
            audio = read(path)
            if len(audio) >= MIN_AMBIENCE_S * rate and rms(audio) > 1e-4:
                found.append((path, audio))
    return found


def background(n: int, bank: list[tuple[str, np.ndarray]], r: np.random.Generator
               ) -> tuple[np.ndarray, str]:
    """(n,) background and its name: an ambience file's random window (looped when short;
    the file's RMS is 1) or white / pink / brown noise of RMS 1 (always noise when `bank` is
    empty)."""
    if bank and r.random() < 0.5:
        path, audio = bank[int(r.integers(len(bank)))]
        return segment(audio, n, r), path
    exponent = float(r.choice([0.0, 1.0, 2.0]))
    return coloured_noise(n, exponent, r), f"noise 1/f^{exponent:.0f}"


@dataclass(frozen=True)
class TaskInfo:
    name: str
    embedding_type: str  # "scene" | "event"
    prediction_type: str  # "multiclass" | "multilabel"
    split_mode: str  # "trainvaltest" | "new_split_kfold"
    splits: tuple[str, ...]
    labels: tuple[str, ...]  # the vocabulary, in index order
    evaluation: tuple[str, ...]  # heareval score names, the first is the primary one
    sample_duration: float  # seconds; every clip has exactly this length
    source_rate: int  # rate of the audio given to TaskWriter.add
    extra: dict = field(default_factory=dict)  # more task_metadata.json keys (notes, sources)


class TaskWriter:
    """Writes one task folder: audio at every rate as clips are added, the json at the end."""

    def __init__(self, out_dir: Path, info: TaskInfo, size: str, sample_rates: list[int]):
        if size not in SIZES:
            raise ValueError(f"size must be one of {SIZES}, not {size!r}")
        self.info, self.size, self.rates = info, size, sorted(set(sample_rates))
        self.folder = Path(out_dir) / f"{info.name}-{VERSION}-{size}"
        if self.folder.exists():
            shutil.rmtree(self.folder)  # no stale files from an earlier build
        for rate in self.rates:
            for split in info.splits:
                (self.folder / str(rate) / split).mkdir(parents=True)
        self.labels: dict[str, dict[str, list]] = {s: {} for s in info.splits}
        self.sources: dict[str, dict] = {}

    def add(self, split: str, audio: np.ndarray, label: list, source: dict) -> str:
        """Write one clip ((n,) float at source_rate, n = duration * rate) at every rate,
        scaled down to a peak of MAX_PEAK if above;
        `label`: list of label strings (scene) or of {"label", "start", "end"} (event)."""
        expected = round(self.info.sample_duration * self.info.source_rate)
        if len(audio) != expected:
            raise ValueError(f"clip of {len(audio)} samples, expected {expected}")
        peak = float(np.abs(audio).max(initial=0.0))
        if peak > MAX_PEAK:  # a mix that would clip is scaled down
            audio = audio * (MAX_PEAK / peak)
        name = f"{len(self.sources):05d}.wav"
        for rate in self.rates:
            out = resample(audio, self.info.source_rate, rate,
                           round(self.info.sample_duration * rate))
            sf.write(self.folder / str(rate) / split / name, out, rate, subtype="PCM_16")
        self.labels[split][name] = label
        self.sources[name] = {"split": split, **source}
        return name

    def counts(self) -> dict[str, int]:
        return {s: len(files) for s, files in self.labels.items()}

    def finish(self, **extra) -> Path:
        """Write task_metadata.json, labelvocabulary.csv, <split>.json and sources.json."""
        info = self.info
        used = {x if isinstance(x, str) else x["label"]
                for files in self.labels.values() for label in files.values() for x in label}
        if used - set(info.labels):
            raise ValueError(f"labels outside the vocabulary: {sorted(used - set(info.labels))}")
        empty = [s for s, files in self.labels.items() if not files]
        if empty:
            raise ValueError(f"no clips in split(s) {empty}")
        metadata = {
            "task_name": info.name, "version": VERSION, "embedding_type": info.embedding_type,
            "prediction_type": info.prediction_type, "split_mode": info.split_mode,
            "sample_duration": info.sample_duration, "evaluation": list(info.evaluation),
            "mode": self.size, "splits": list(info.splits), "sample_rates": self.rates,
            "clips": self.counts(), **info.extra, **extra,
        }
        if info.split_mode.endswith("kfold"):
            metadata["nfolds"] = len(info.splits)
        _dump(self.folder / "task_metadata.json", metadata)
        vocab = "idx,label\n" + "".join(f"{i},{label}\n" for i, label in enumerate(info.labels))
        (self.folder / "labelvocabulary.csv").write_text(vocab)
        for split, files in self.labels.items():
            _dump(self.folder / f"{split}.json", files)
        _dump(self.folder / "sources.json", self.sources)
        return self.folder


def _dump(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=1) + "\n")


def split_groups(weights: dict[str, int], r: np.random.Generator, test: float = 0.25,
                 valid: float = 0.15, accept: Callable[[dict[str, str]], bool] | None = None,
                 draws: int = 200) -> dict[str, str]:
    """Whole groups (speakers, kits, programs; weight = clips or files) to "train" / "valid"
    / "test". A draw shuffles the groups and gives round(test * n) of them (at least 1) to
    test, round(valid * n) (at least 1) to valid, the rest to train; of `draws` seeded draws
    the one kept is, among those `accept` takes, the first whose weight shares come closest
    to `test` / `valid`."""
    groups = sorted(weights)
    if len(groups) < 3:
        raise ValueError(f"need at least 3 groups for 3 splits, got {groups}")
    n_test = max(1, round(test * len(groups)))
    n_valid = max(1, round(valid * len(groups)))
    total = sum(weights.values())
    best, best_error = None, np.inf
    for _ in range(draws):
        order = [groups[i] for i in r.permutation(len(groups))]
        split_of = {g: "test" if i < n_test else "valid" if i < n_test + n_valid else "train"
                    for i, g in enumerate(order)}
        share = {s: sum(w for g, w in weights.items() if split_of[g] == s) / total
                 for s in ("test", "valid")}
        error = abs(share["test"] - test) + abs(share["valid"] - valid)
        if error < best_error - 1e-9 and (accept is None or accept(split_of)):
            best, best_error = split_of, error
    if best is None:
        raise RuntimeError("no draw of the groups is accepted")
    return best


def fold_groups(weights: dict[str, int], folds: list[str], r: np.random.Generator
                ) -> dict[str, str]:
    """Whole groups to folds, balanced by weight (clips): heaviest group first onto the
    lightest fold; seeded order among equal weights."""
    groups = sorted(weights)
    order = [groups[i] for i in r.permutation(len(groups))]
    load = dict.fromkeys(folds, 0)
    assigned = {}
    for g in sorted(order, key=lambda g: -weights[g]):  # stable sort keeps the seeded order
        fold = min(folds, key=lambda f: load[f])
        assigned[g] = fold
        load[fold] += weights[g]
    return assigned
