"""Audio files for the command line: any sample rate and channel count -> mono float32 at the
model's rate, read in blocks so that memory does not grow with the file's length.

Multi-channel files are downmixed by averaging their channels (stereo -> (L + R) / 2), before
resampling. Resampling uses python-soxr (libsoxr, "HQ" quality) as a stream: its output is
that of resampling the whole file at once, so a file read in blocks gives the same samples.
torchaudio is not used, as it has no CPU-only build for the torch pinned here. Reading uses
soundfile (libsndfile); a folder search takes every format the installed libsndfile reads.
"""

import io
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator, Union

import numpy as np
import soundfile as sf
import soxr

BLOCK_FRAMES = 1 << 16  # file frames read at a time (stereo 44.1 kHz: 1.5 s, 0.5 MB float32)

# libsndfile format name -> the suffixes its files carry (formats not listed: .<name>)
_FORMAT_SUFFIXES = {
    "AIFF": (".aiff", ".aif", ".aifc"), "AU": (".au", ".snd"), "CAF": (".caf",),
    "FLAC": (".flac",), "MP3": (".mp3",), "OGG": (".ogg", ".oga", ".opus"),
    "WAV": (".wav",), "WAVEX": (".wav",), "RF64": (".rf64", ".wav"), "W64": (".w64",),
    "NIST": (".nist", ".sph"), "IRCAM": (".sf",), "MAT4": (".mat",), "MAT5": (".mat",),
    "MPC2K": (".mpc",), "SVX": (".iff", ".svx"), "SD2": (".sd2",),
    "RAW": (),  # header-less: nothing tells such files apart; name them directly
}


def readable_suffixes() -> tuple[str, ...]:
    """Lower-case suffixes of every format the installed libsndfile reads, sorted."""
    suffixes = set()
    for name in sf.available_formats():
        suffixes.update(_FORMAT_SUFFIXES.get(name, ("." + name.lower(),)))
    return tuple(sorted(suffixes))


def parse_suffixes(text: str) -> tuple[str, ...]:
    """--ext "wav,.MP3" -> (".wav", ".mp3"); "+caf" adds to the readable suffixes."""
    extra = text.startswith("+")
    parts = [p.strip().lower() for p in text.lstrip("+").split(",") if p.strip()]
    if not parts:
        raise ValueError(f"expected suffixes like wav,flac or +xyz, got {text!r}")
    given = tuple("." + p.lstrip(".") for p in parts)
    return tuple(sorted(set(readable_suffixes() + given))) if extra else given


def find_audio(inputs: Iterable, suffixes=None) -> tuple[list[tuple[Path, Path]], Counter]:
    """Files and folders -> (audio file, output name) pairs and a count of the files a folder
    search skipped, by suffix.

    A folder is searched recursively for `suffixes` (default: readable_suffixes(); any case);
    each file found is named by its path relative to that folder, without the suffix
    (`in/a/x.wav` -> `a/x`). A file given directly is named by its stem and read whatever its
    suffix. A missing path is FileNotFoundError.
    """
    suffixes = set(suffixes or readable_suffixes())
    found, skipped = [], Counter()
    for item in map(Path, inputs):
        if item.is_dir():
            files = sorted(p for p in item.rglob("*") if p.is_file())
            for p in files:
                if p.suffix.lower() in suffixes:
                    found.append((p, p.relative_to(item).with_suffix("")))
                else:
                    skipped[p.suffix.lower() or "(none)"] += 1
        elif item.is_file():
            found.append((item, Path(item.stem)))
        else:
            raise FileNotFoundError(f"no such file or folder: {item}")
    return found, skipped


def duration(path: Path) -> float:
    """Seconds of audio from the file header; 0.0 when the header cannot be read."""
    try:
        info = sf.info(str(path))
    except Exception:  # unreadable files fail later, in read_audio, with the reason
        return 0.0
    return info.frames / info.samplerate if info.samplerate else 0.0


class AudioReader:
    """One audio file (a path or a binary file object) read as mono float32 blocks at
    `sample_rate`. Errors are ValueError with the reason; the header is read on creation.

        reader = AudioReader(path, 16000)
        reader.rate, reader.channels, reader.frames, reader.duration  # of the file
        for block in reader.blocks(): ...  # (n,) float32 at 16000 Hz
    """

    def __init__(self, source: Union[str, Path, io.IOBase], sample_rate: int):
        self.source, self.sample_rate = source, sample_rate
        if isinstance(source, (str, Path)):
            _check_wav_complete(Path(source))
        with _reading():
            with self._open() as f:
                self.rate, self.channels, self.frames = f.samplerate, f.channels, f.frames
        if self.frames == 0:
            raise ValueError("audio file holds no samples")
        self.duration = self.frames / self.rate

    def _open(self) -> sf.SoundFile:
        if not isinstance(self.source, (str, Path)):
            self.source.seek(0)
        return sf.SoundFile(self.source if not isinstance(self.source, Path) else str(self.source))

    def output_samples(self) -> int:
        """Samples at `sample_rate` that blocks() yields in all (soxr's rounding)."""
        if self.rate == self.sample_rate:
            return self.frames
        # frames * sample_rate / rate, halves rounded up (checked against soxr's stream)
        return (2 * self.frames * self.sample_rate + self.rate) // (2 * self.rate)

    def blocks(self, block_frames: int = BLOCK_FRAMES) -> Iterator[np.ndarray]:
        """(n,) float32 blocks at `sample_rate`, in order; their concatenation is the whole
        file downmixed and resampled."""
        stream = None
        if self.rate != self.sample_rate:
            stream = soxr.ResampleStream(self.rate, self.sample_rate, 1, dtype="float32",
                                         quality="HQ")
        total = 0
        with _reading():
            with self._open() as f:
                while True:
                    with _reading():
                        data = f.read(block_frames, dtype="float32", always_2d=True)  # (n, C)
                    last = len(data) < block_frames
                    mono = data.mean(axis=1, dtype=np.float32)  # (n, C) -> (n,)
                    if not np.isfinite(mono).all():
                        raise ValueError("audio file contains NaN or Inf samples")
                    if stream is not None:
                        mono = stream.resample_chunk(mono, last=last)
                    total += len(mono)
                    if len(mono):
                        yield np.ascontiguousarray(mono, dtype=np.float32)
                    if last:
                        break
        if total == 0:
            raise ValueError(
                f"too short: {self.frames} samples at {self.rate} Hz resample to none")


    def read(self) -> np.ndarray:
        """The whole file: (N,) float32 at `sample_rate`."""
        blocks = list(self.blocks())
        return blocks[0] if len(blocks) == 1 else np.concatenate(blocks)


class _reading:
    """Turns libsndfile and OS errors into ValueError("unreadable audio file: ...")."""

    def __enter__(self):
        return self

    def __exit__(self, kind, error, tb):
        if error is None or isinstance(error, (ValueError, GeneratorExit)):
            return False
        if isinstance(error, Exception):
            raise ValueError(f"unreadable audio file: {first_line(error)}") from None
        return False  # KeyboardInterrupt and kin pass


def read_audio(path, sample_rate: int) -> np.ndarray:
    """An audio file -> (N,) float32 mono at `sample_rate`; ValueError says what is wrong."""
    return AudioReader(path, sample_rate).read()


def _check_wav_complete(path: Path) -> None:
    """Refuse a WAV file shorter than its RIFF header says (a partial copy or download):
    libsndfile would silently read the samples that are there."""
    try:
        with open(path, "rb") as f:
            header = f.read(12)
    except OSError as e:
        raise ValueError(f"unreadable audio file: {first_line(e)}") from None
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
