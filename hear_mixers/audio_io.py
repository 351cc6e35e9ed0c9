"""Audio files for the command line: any sample rate and channel count -> mono float32 at the
model's rate.

Multi-channel files are downmixed by averaging their channels (stereo -> (L + R) / 2), before
resampling. Resampling uses python-soxr (libsoxr, "HQ" quality): maintained, fast, with wheels
for every platform; torchaudio is not used, as it has no CPU-only build for the torch pinned
here and would pull CUDA wheels. Reading uses soundfile (libsndfile: wav, flac, ogg, ...).
"""

from pathlib import Path
from typing import Iterable

import numpy as np
import soundfile as sf
import soxr

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")  # searched for in folders, case-insensitive


def find_audio(inputs: Iterable) -> list[tuple[Path, Path]]:
    """Files and folders -> (audio file, output name) pairs.

    A folder is searched recursively for AUDIO_SUFFIXES; each file found is named by its path
    relative to that folder, without the suffix (`in/a/x.wav` -> `a/x`). A file given directly
    is named by its stem and read whatever its suffix. A missing path is FileNotFoundError.
    """
    found = []
    for item in map(Path, inputs):
        if item.is_dir():
            files = sorted(
                p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
            )
            found += [(p, p.relative_to(item).with_suffix("")) for p in files]
        elif item.is_file():
            found.append((item, Path(item.stem)))
        else:
            raise FileNotFoundError(f"no such file or folder: {item}")
    return found


def duration(path: Path) -> float:
    """Seconds of audio from the file header; 0.0 when the header cannot be read."""
    try:
        info = sf.info(str(path))
    except Exception:  # unreadable files fail later, in read_audio, with the reason
        return 0.0
    return info.frames / info.samplerate if info.samplerate else 0.0


def read_audio(path: Path, sample_rate: int) -> np.ndarray:
    """An audio file -> (N,) float32 mono at `sample_rate`; ValueError says what is wrong."""
    try:
        _check_wav_complete(path)
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)  # (N, C); PCM -> [-1, 1)
    except ValueError:
        raise
    except Exception as e:  # libsndfile errors (not audio, bad header, codec), OSError, ...
        raise ValueError(f"unreadable audio file: {first_line(e)}") from None
    if data.shape[0] == 0:
        raise ValueError("audio file holds no samples")
    mono = data.mean(axis=1, dtype=np.float32)  # (N, C) -> (N,): average of the channels
    if not np.isfinite(mono).all():
        raise ValueError("audio file contains NaN or Inf samples")
    if rate != sample_rate:
        mono = soxr.resample(mono, rate, sample_rate, quality="HQ")  # (N,) -> (~N * sr / rate,)
        if mono.shape[0] == 0:
            raise ValueError(f"too short: {data.shape[0]} samples at {rate} Hz resample to none")
    return np.ascontiguousarray(mono, dtype=np.float32)


def _check_wav_complete(path: Path) -> None:
    """Refuse a WAV file shorter than its RIFF header says (a partial copy or download):
    libsndfile would silently read the samples that are there."""
    with open(path, "rb") as f:
        header = f.read(12)
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        return
    declared = int.from_bytes(header[4:8], "little") + 8  # bytes the whole file should have
    actual = Path(path).stat().st_size
    if header[4:8] not in (b"\0\0\0\0", b"\xff\xff\xff\xff") and actual < declared:
        # 0 and 0xFFFFFFFF: length unknown when written (streamed), nothing to compare
        raise ValueError(f"truncated WAV file: its header says {declared} bytes, it has {actual}")


def first_line(error: Exception) -> str:
    """The first non-empty line of an error message (libsndfile's can run over several)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__
