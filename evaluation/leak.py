"""Does a training data builder read what the evaluation suite reserves? Checked by behaviour:
run the builder under `record_reads()` and look at what it opened, then at what it wrote.

`record_reads()` notes every file the process (and processes it forks) opens or hands to a
program:
  - Python's audit events "open" (builtins.open, io.open, os.open, numpy.load, wave, ...)
    and "subprocess.Popen" / "os.system" / "os.exec" (every argument that names a file:
    the soundfont given to fluidsynth, the file given to dpkg or tar, ...);
  - soundfile.SoundFile (soundfile.read, soundfile.info and soundfile.blocks go through it;
    libsndfile opens files in C, where no audit event is raised).
Workers started by fork inherit both (records go to one log file); workers started by
"spawn" or "forkserver" do not and are not seen. Files a program opens on its own (a
festival voice, fluidsynth's default soundfont when none is named) are not seen either:
that is what `output_violations` is for, which reads the voice of every clip a builder
wrote into its train and valid splits.

    with record_reads() as reads:
        build(out_dir, "tiny", 0)
    assert not read_violations(reads) and not output_violations(out_dir)
"""

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile

from evaluation import sources

_LOG_FD: int | None = None  # where the active recorder appends its lines; None: inactive
_HOOKED = False


@dataclass
class Reads:
    files: list[str] = field(default_factory=list)  # every path opened or passed, in order
    commands: list[list[str]] = field(default_factory=list)  # programs run, argv


def _write(kind: str, value: str) -> None:
    fd = _LOG_FD
    if fd is not None:  # O_APPEND: one write per line, whole lines from every process
        os.write(fd, f"{kind}\t{value}".replace("\n", " ").encode(errors="replace") + b"\n")


def _path(value) -> str | None:
    if isinstance(value, (str, bytes, os.PathLike)):
        path = os.fsdecode(value)
        return os.path.abspath(path) if path else None
    return None


def _argv(args) -> list[str]:
    if isinstance(args, (str, bytes, os.PathLike)):
        return [os.fsdecode(args)]
    try:
        return [os.fsdecode(a) for a in args if isinstance(a, (str, bytes, os.PathLike))]
    except TypeError:
        return []


def _hook(event: str, args: tuple) -> None:
    if _LOG_FD is None:
        return
    if event == "open":
        path = _path(args[0])
        if path is not None:
            _write("file", path)
    elif event in ("subprocess.Popen", "os.exec", "os.posix_spawn"):
        argv = _argv(args[1])
        _write("command", "\x1f".join(argv))
        for arg in argv:  # "-F out.wav", "font.sf2", "--file=x": the file-like parts
            for part in (arg, arg.split("=", 1)[-1]):
                if os.sep in part or os.path.exists(part):
                    _write("file", os.path.abspath(part))
    elif event == "os.system":
        _write("command", os.fsdecode(args[0]))
        for word in os.fsdecode(args[0]).split():
            if os.sep in word:
                _write("file", os.path.abspath(word))


_original_init = soundfile.SoundFile.__init__


def _soundfile_init(self, file, *args, **kwargs):
    path = _path(file)
    if path is not None:
        _write("file", path)
    return _original_init(self, file, *args, **kwargs)


@contextlib.contextmanager
def record_reads() -> Iterator[Reads]:
    """Record the files opened inside the block (see the module's docstring)."""
    global _LOG_FD, _HOOKED
    if _LOG_FD is not None:
        raise RuntimeError("record_reads() is already active")
    if not _HOOKED:  # audit hooks cannot be removed: one, idle outside the block
        sys.addaudithook(_hook)
        _HOOKED = True
    reads = Reads()
    with tempfile.TemporaryDirectory(prefix="leak_") as tmp:
        log = Path(tmp) / "reads.log"
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        soundfile.SoundFile.__init__ = _soundfile_init
        _LOG_FD = fd
        try:
            yield reads
        finally:
            _LOG_FD = None
            soundfile.SoundFile.__init__ = _original_init
            os.close(fd)
            for line in log.read_text(errors="replace").splitlines():
                kind, _, value = line.partition("\t")
                if kind == "file":
                    reads.files.append(value)
                elif kind == "command":
                    reads.commands.append(value.split("\x1f"))


def read_violations(reads: Reads) -> list[str]:
    """The recorded files that belong to an eval-only source, each once, in order."""
    return list(dict.fromkeys(f for f in reads.files if sources.is_eval_only_path(f)))


def output_violations(folder: Path, splits: tuple[str, ...] = ("train", "valid")) -> list[str]:
    """Voices or recordings of the clips a builder wrote (every `index.npz` under `folder`,
    training.data.Clips' format) in `splits` that are eval-only. `voice` holds a voice id,
    a file path, or several joined by "|" (mixtures)."""
    found = []
    for index in sorted(Path(folder).rglob("index.npz")):
        with np.load(index, allow_pickle=False) as data:
            if "voice" not in data.files or "split" not in data.files:
                continue
            voices, split = data["voice"].astype(str), data["split"].astype(str)
        for voice in sorted(set(voices[np.isin(split, splits)].tolist())):
            for part in voice.split("|"):
                if sources.is_eval_only_voice(part) or (
                        os.sep in part and sources.is_eval_only_path(part)):
                    found.append(f"{index.parent}: {part}")
    return found
