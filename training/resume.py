"""Resumable training state: written atomically, read back exactly.

A state file is a `torch.save` of tensors and plain containers only (it loads with
`weights_only=True`): model (with its EMA target), optimiser, the step (which fixes the
schedule position and the data position), every random state and the list of runs that
made it. Written to a temporary file in the same folder, flushed to disk, then renamed
over the old one, so a crash or a kill mid-write leaves the previous state intact.
"""

import os
import platform
import random
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import torch


def save_state(path, state: dict) -> int:
    """Write `state` to `path` atomically; returns the file size in bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path.stat().st_size


def load_state(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def random_states() -> dict:
    """The process-wide generators: python's, numpy's legacy global one and torch's."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": [version, list(internal), gauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }


def set_random_states(states: dict) -> None:
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(states["torch"])


def git_commit(folder=".") -> str:
    """The checkout's commit (with "+dirty" when tracked files differ), or "unknown"."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "training", "hear_mixers"],
                               cwd=folder).returncode != 0
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:  # the CPU's model name, where Linux tells it
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{platform.node()} {cpu}, {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads"


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class StopFlag:
    """Set by SIGTERM / SIGINT (the loop checkpoints and stops at the end of its step);
    the previous handlers come back on `restore()`."""

    def __init__(self):
        self.signal = None
        self._old = {s: signal.signal(s, self._handle) for s in (signal.SIGTERM, signal.SIGINT)}

    def _handle(self, signum, frame):
        self.signal = signal.Signals(signum).name

    def __bool__(self) -> bool:
        return self.signal is not None

    def restore(self) -> None:
        for s, handler in self._old.items():
            signal.signal(s, handler)
