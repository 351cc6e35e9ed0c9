"""`pitch`: NSynth-like note pitch. Notes of General-MIDI instruments rendered by the Debian
fluidsynth from a Debian GM soundfont; label = MIDI pitch ("36".."84").

Sizes: full = 32 GM programs (every family but percussion and effects) x the 49 pitches
36..84; tiny = 6 programs x 8 random pitches. Soundfont: TimGM6mb (timgm6mb-soundfont,
GPL-2), reserved for evaluation (evaluation/sources.py); the FluidR3 family is left to
training. Velocity: random 40..120 per note.

Rendering: one fluidsynth call per program (`fluidsynth -ni -R 0 -C 0 -F out.wav -r 48000`,
reverb and chorus off) plays a standard MIDI file we write: its notes one after another, each
held 0.75 s, one every 2 s; each note's first second is cut out as a clip (10 ms fade at
the cut) and peak-normalised to 0.9. Notes rendered silent are dropped (counted in the metadata).

Split: by program (NSynth splits by instrument): seeded, 25 % of programs test, 15 % valid.
Label vocabulary: every pitch 36..84 in order, so idx = pitch - 36 and idx % 12 = pitch % 12
(heareval's chroma_acc compares class indices modulo 12).
"""

import os
import shutil
import struct
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from evaluation.tasks import common
from hear_mixers.audio_io import read_audio

RATE = 48000
PITCHES = tuple(range(36, 85))  # C2..C6
FONT = ("timgm6mb-soundfont", "/usr/share/sounds/sf2/TimGM6mb.sf2")  # eval-only (sources.py)
SOURCES = ("timgm6mb", "fluidsynth")  # evaluation.sources names
# GM programs (0-based): pianos, chromatic percussion, organs, guitars, basses, strings,
# ensembles, brass, reeds, pipes, synth leads and pads
PROGRAMS = {"full": (0, 4, 6, 8, 11, 12, 16, 19, 21, 24, 25, 27, 30, 32, 33, 38, 40, 42, 48,
                     52, 56, 57, 60, 61, 65, 68, 71, 73, 79, 80, 81, 88),
            "tiny": (0, 24, 40, 56, 73, 80)}
TINY_PITCHES = 8  # random pitches per program at tiny size
CLIP_S = 1.0
HOLD_S = 0.75  # note on -> note off
STEP_S = 2.0  # one note every STEP_S in the rendered file
TICKS = 480  # per quarter note; at the default 120 bpm one second is 960 ticks
SILENT_PEAK = 1e-3


def soundfont(size: str = "full") -> tuple[str, str] | None:
    """(package, path) of the task's soundfont (the same at every size), None when it is not
    installed."""
    return FONT if Path(FONT[1]).is_file() else None


def available() -> bool:
    return shutil.which("fluidsynth") is not None and soundfont("tiny") is not None


def _var_len(n: int) -> bytes:
    """MIDI variable-length quantity."""
    out = [n & 0x7F]
    while n > 0x7F:
        n >>= 7
        out.append(0x80 | (n & 0x7F))
    return bytes(reversed(out))


def ticks(seconds: float) -> int:
    return round(seconds * 2 * TICKS)  # the default tempo, 120 bpm: 2 quarters a second


def midi_file(program: int, notes: list[tuple[int, int]]) -> bytes:
    """A format-0 standard MIDI file on channel 0: program change, then (pitch, velocity)
    notes, note i from i * STEP_S held HOLD_S, and an end STEP_S after the last note."""
    track = _var_len(0) + bytes([0xC0, program])
    now = 0
    for i, (pitch, velocity) in enumerate(notes):
        on, off = ticks(i * STEP_S), ticks(i * STEP_S + HOLD_S)
        track += _var_len(on - now) + bytes([0x90, pitch, velocity])
        track += _var_len(off - on) + bytes([0x80, pitch, 0])
        now = off
    track += _var_len(ticks(len(notes) * STEP_S) - now) + b"\xff\x2f\x00"  # end of track
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS)
    return header + b"MTrk" + struct.pack(">I", len(track)) + track


def render(program: int, notes: list[tuple[int, int]], font: str) -> list[np.ndarray | None]:
    """One (CLIP_S * RATE,) float32 clip per note, peak 0.9; None where it came out silent."""
    with tempfile.TemporaryDirectory(prefix="pitch_") as tmp:
        mid, wav = Path(tmp) / "notes.mid", Path(tmp) / "notes.wav"
        mid.write_bytes(midi_file(program, notes))
        subprocess.run(["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.5",
                        "-r", str(RATE), "-F", str(wav), font, str(mid)],
                       capture_output=True, check=True, timeout=600)
        audio = read_audio(wav, RATE)
    n, clips = round(CLIP_S * RATE), []
    for i in range(len(notes)):
        start = round(i * STEP_S * RATE)
        clip = np.pad(audio[start : start + n], (0, max(0, start + n - len(audio))))
        peak = float(np.abs(clip).max(initial=0.0))
        clip = common.fade_out(clip, round(0.01 * RATE))  # the release tail ends at the cut
        clips.append(clip * (0.9 / peak) if peak >= SILENT_PEAK else None)
    return clips


def build(out_dir: Path, size: str, seed: int, sample_rates: list[int]) -> Path:
    found = soundfont(size)
    if shutil.which("fluidsynth") is None or found is None:
        raise RuntimeError("fluidsynth or timgm6mb-soundfont missing: tools/install_eval_deps.sh")
    package, font = found
    programs = PROGRAMS[size]
    split_of = common.split_groups({str(p): 1 for p in programs},
                                  common.rng(seed, "pitch", "split"))
    notes: dict[int, list[tuple[int, int]]] = {}
    for program in programs:
        r = common.rng(seed, "pitch", str(program))
        pitches = PITCHES if size == "full" else sorted(r.choice(PITCHES, TINY_PITCHES, False))
        notes[program] = [(int(p), int(r.integers(40, 121))) for p in pitches]
    with ThreadPoolExecutor(max(2, os.cpu_count() or 1)) as pool:  # fluidsynth processes
        rendered = list(pool.map(lambda p: render(p, notes[p], font), programs))

    info = common.TaskInfo(
        name="pitch", embedding_type="scene", prediction_type="multiclass",
        split_mode="trainvaltest", splits=("train", "valid", "test"),
        labels=tuple(str(p) for p in PITCHES), evaluation=("pitch_acc", "chroma_acc"),
        sample_duration=CLIP_S, source_rate=RATE,
        extra={"source": f"fluidsynth {common.package_version('fluidsynth')}, soundfont {font} "
                         f"(Debian {package} {common.package_version(package)}); split by "
                         "GM program",
               "programs": {s: sorted(int(p) for p, x in split_of.items() if x == s)
                            for s in ("train", "valid", "test")}})
    writer = common.TaskWriter(out_dir, info, size, sample_rates)
    silent = 0
    for program, clips in zip(programs, rendered):
        for (pitch, velocity), clip in zip(notes[program], clips):
            if clip is None:
                silent += 1
                continue
            writer.add(split_of[str(program)], clip, [str(pitch)],
                       {"program": program, "pitch": pitch, "velocity": velocity,
                        "soundfont": font, "package": package})
    return writer.finish(silent_notes_dropped=silent)
