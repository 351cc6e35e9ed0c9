"""Music clips rendered with fluidsynth from the training soundfonts: single notes, intervals,
chords, short phrases and drum hits, labelled with pitch, instrument family, velocity bucket,
harmony and drum type.

Rendering: per soundfont, one standard MIDI file holds every event of a batch of programs,
each in its own slot of exactly the clip's length, on channel 0 (melodic, a program change at
the slot's start) or 9 (drums, a kit change). Each slot ends with "all sound off" (CC 120),
so no release rings into the next slot. One `fluidsynth -ni -R 0 -C 0 -O float` call renders
the file at 32 kHz (reverb and chorus off); the slots are cut out, resampled to 16 kHz
(soxr), faded out over their last 10 ms and scaled by one gain per program (its loudest
clip to 0.9), so loudness still follows velocity within a program. Slots rendered silent
(a note outside the samples of a preset) are dropped.

Splits: voice = "<font>:<program>" or "<font>:kit<n>"; per soundfont and GM family one
program (seeded) and one drum kit are "valid", the rest "train".
"""

import shutil
import struct
import subprocess
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

SAMPLE_RATE = 16000
RENDER_RATE = 32000
MS = 1000  # MIDI ticks per second: 500 ticks per quarter at 120 bpm
FONTS = {  # name -> (package, path); the Fluid family and MuseScore, never TimGM6mb
    "FluidR3_GM": ("fluid-soundfont-gm", "/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    "MuseScore_General": ("musescore-general-soundfont",
                          "/usr/share/sounds/sf3/MuseScore_General_Full.sf3"),
}
FAMILIES = ("piano", "chromatic percussion", "organ", "guitar", "bass", "strings", "ensemble",
            "brass", "reed", "pipe", "synth lead", "synth pad", "synth effects", "ethnic",
            "percussive")  # GM program // 8; "sound effects" (120-127) is not rendered
INSTRUMENTS = FAMILIES + ("drum kit",)
RANGES = ((28, 100), (48, 96), (36, 96), (40, 88), (28, 64), (36, 96), (36, 96), (40, 84),
          (40, 88), (52, 96), (36, 96), (36, 84), (36, 84), (48, 84), (36, 84))  # MIDI lo, hi
PITCHES = tuple(range(21, 109))  # the piano's 88 keys; label = MIDI - 21
VELOCITY_EDGES = (32, 64, 96)  # buckets: 1-31, 32-63, 64-95, 96-127
VELOCITIES = ("pp", "p", "f", "ff")
INTERVALS = ("minor 2nd", "major 2nd", "minor 3rd", "major 3rd", "4th", "tritone", "5th",
             "minor 6th", "major 6th", "minor 7th", "major 7th", "octave")
CHORDS = {"major triad": (0, 4, 7), "minor triad": (0, 3, 7), "diminished triad": (0, 3, 6),
          "augmented triad": (0, 4, 8), "sus2 chord": (0, 2, 7), "sus4 chord": (0, 5, 7),
          "dominant 7th chord": (0, 4, 7, 10), "major 7th chord": (0, 4, 7, 11),
          "minor 7th chord": (0, 3, 7, 10)}
HARMONY = ("single note",) + INTERVALS + tuple(CHORDS) + ("phrase",)
assert len(set(HARMONY)) == len(HARMONY)
KITS = (0, 8, 16, 24, 25, 32, 40, 48)  # GM2 drum kits: standard, room, power, ... orchestra
DRUMS = ("kick", "snare", "clap", "hi-hat", "tom", "cymbal", "hand drum", "shaker",
         "bell", "wood", "other percussion")
_DRUM_KEYS = {  # GM percussion key -> DRUMS entry
    **dict.fromkeys((35, 36), "kick"), **dict.fromkeys((37, 38, 40), "snare"), 39: "clap",
    **dict.fromkeys((42, 44, 46), "hi-hat"), **dict.fromkeys((41, 43, 45, 47, 48, 50), "tom"),
    **dict.fromkeys((49, 51, 52, 53, 55, 57, 59), "cymbal"),
    **dict.fromkeys(range(60, 67), "hand drum"), **dict.fromkeys((54, 69, 70, 73, 74), "shaker"),
    **dict.fromkeys((56, 67, 68, 80, 81), "bell"), **dict.fromkeys((75, 76, 77), "wood"),
    **dict.fromkeys((58, 71, 72, 78, 79), "other percussion"),
}
EVENT_KINDS = ("note", "interval", "chord", "phrase")
EVENT_WEIGHTS = (0.45, 0.15, 0.25, 0.15)
PEAK = 0.9
SILENT = 1e-3  # slot peak below -60 dB of the program's loudest: dropped
FADE_S = 0.010


@dataclass
class Event:
    """One clip to render: notes as (start s, end s, MIDI key, velocity) within the slot."""

    voice: str  # "<font>:<program>" or "<font>:kit<n>"
    channel: int  # 0 melodic, 9 drums
    program: int  # GM program, or the drum kit
    seconds: float  # slot and clip length
    notes: list[tuple[float, float, int, int]]
    labels: dict[str, str]  # head -> class name


def velocity_bucket(velocity: int) -> str:
    return VELOCITIES[int(np.searchsorted(VELOCITY_EDGES, velocity, side="right"))]


def _rng(seed: int, *keys: str) -> np.random.Generator:
    return np.random.default_rng([seed, *(zlib.crc32(k.encode()) for k in keys)])


def melodic_event(voice: str, program: int, r: np.random.Generator) -> Event:
    """A note, interval, chord or phrase of `program`, 1-2 s long, with its labels."""
    seconds = round(float(r.uniform(1.0, 2.0)), 2)
    lo, hi = RANGES[program // 8]
    kind = EVENT_KINDS[r.choice(len(EVENT_KINDS), p=EVENT_WEIGHTS)]
    velocity = int(r.integers(16, 128))
    start = round(float(r.uniform(0.0, 0.1)), 3)
    end = round(float(r.uniform(min(start + 0.3, seconds - 0.2), seconds - 0.1)), 3)
    labels = {"instrument": FAMILIES[program // 8], "velocity": velocity_bucket(velocity)}
    if kind == "phrase":
        tonic = int(r.integers(lo, max(lo + 1, hi - 12)))
        scale = (0, 2, 4, 5, 7, 9, 11) if r.random() < 0.5 else (0, 2, 3, 5, 7, 8, 10)
        count = int(r.integers(3, 9))
        times = np.sort(r.uniform(start, seconds - 0.25, count))
        degree, notes = int(r.integers(0, 7)), []
        for k, t in enumerate(times):
            degree = int(np.clip(degree + r.integers(-2, 3), 0, 13))
            key = min(hi, tonic + 12 * (degree // 7) + scale[degree % 7])
            stop = times[k + 1] if k + 1 < count else seconds - 0.1
            v = int(np.clip(velocity + r.integers(-8, 9), 1, 127))
            notes.append((round(float(t), 3), round(float(max(t + 0.05, stop)), 3), key, v))
        labels["harmony"] = "phrase"
        return Event(voice, 0, program, seconds, notes, labels)
    if kind == "note":
        keys = [int(r.integers(lo, hi + 1))]
        labels["harmony"] = "single note"
    elif kind == "interval":
        step = int(r.integers(1, 13))
        root = int(r.integers(lo, max(lo + 1, hi - step + 1)))
        keys = [root, root + step]
        labels["harmony"] = INTERVALS[step - 1]
    else:
        name = list(CHORDS)[int(r.integers(len(CHORDS)))]
        root = int(r.integers(lo, max(lo + 1, hi - 11)))
        keys = [root + k for k in CHORDS[name]]
        labels["harmony"] = name
    labels["pitch"] = str(keys[0])  # the lowest note: the root of intervals and chords
    return Event(voice, 0, program, seconds, [(start, end, k, velocity) for k in keys], labels)


def drum_event(voice: str, kit: int, key: int, r: np.random.Generator) -> Event:
    velocity = int(r.integers(16, 128))
    start = round(float(r.uniform(0.0, 0.1)), 3)
    labels = {"instrument": "drum kit", "velocity": velocity_bucket(velocity),
              "drum": _DRUM_KEYS[key]}
    return Event(voice, 9, kit, 1.0, [(start, start + 0.2, key, velocity)], labels)


def plan(font: str, programs, kits, events_per_program: int, drum_velocities: int,
         seed: int, drum_keys=None) -> list[Event]:
    """Every event of one soundfont, in a fixed order; each voice has its own random stream.
    `drum_keys`: the GM percussion keys to hit (None: all of them)."""
    events = []
    for program in programs:
        voice = f"{font}:{program}"
        r = _rng(seed, voice)
        events += [melodic_event(voice, program, r) for _ in range(events_per_program)]
    for kit in kits:
        voice = f"{font}:kit{kit}"
        r = _rng(seed, voice)
        keys = sorted(_DRUM_KEYS) if drum_keys is None else sorted(drum_keys)
        events += [drum_event(voice, kit, key, r) for key in keys
                   for _ in range(drum_velocities)]
    return events


def valid_voices(font: str, programs, kits, seed: int) -> set[str]:
    """Per GM family of `programs` one program, and one of `kits`, held out as valid."""
    r = _rng(seed, font, "valid")
    held = set()
    for family in sorted({p // 8 for p in programs}):
        members = [p for p in programs if p // 8 == family]
        if len(members) > 1:
            held.add(f"{font}:{members[int(r.integers(len(members)))]}")
    if len(kits) > 1:
        held.add(f"{font}:kit{kits[int(r.integers(len(kits)))]}")
    return held


# ------------------------------------------------------------------ MIDI and rendering


def _varlen(value: int) -> bytes:
    out = [value & 0x7F]
    while value > 0x7F:
        value >>= 7
        out.append((value & 0x7F) | 0x80)
    return bytes(reversed(out))


def midi_file(events: list[Event]) -> tuple[bytes, list[int]]:
    """A format-0 MIDI file playing `events` one after another, and each slot's start (ms)."""
    messages, starts, t0 = [], [], 0
    for e in events:
        starts.append(t0)
        channel = e.channel
        if channel == 9:  # drum kit: bank 128 is implied on channel 10
            messages.append((t0, 0, bytes([0xC9, e.program])))
        else:
            messages += [(t0, 0, bytes([0xB0, 0, 0])), (t0, 0, bytes([0xC0, e.program]))]
        for start, end, key, velocity in e.notes:
            messages.append((t0 + round(start * MS), 2, bytes([0x90 | channel, key, velocity])))
            messages.append((t0 + round(end * MS), 1, bytes([0x80 | channel, key, 0])))
        t0 += round(e.seconds * MS)
        messages.append((t0 - 5, 1, bytes([0xB0 | channel, 120, 0])))  # all sound off
    messages.sort(key=lambda m: (m[0], m[1]))  # at equal times: changes, offs, then ons
    track, last = bytearray(b"\x00\xff\x51\x03\x07\xa1\x20"), 0  # tempo 500000 us/quarter
    for tick, _, message in messages:
        track += _varlen(tick - last) + message
        last = tick
    track += _varlen(MS) + b"\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, MS // 2)
    return header + b"MTrk" + struct.pack(">I", len(track)) + bytes(track), starts


def render(font_path: str, events: list[Event]) -> list[np.ndarray]:
    """Each event's clip, float32 at 16 kHz, before the per-program gain."""
    if shutil.which("fluidsynth") is None:
        raise RuntimeError("fluidsynth is not installed (tools/install_training_deps.sh)")
    data, starts = midi_file(events)
    with tempfile.TemporaryDirectory(prefix="general_music_") as tmp:
        mid, wav = Path(tmp) / "events.mid", Path(tmp) / "events.wav"
        mid.write_bytes(data)
        subprocess.run(["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.5",
                        "-O", "float", "-r", str(RENDER_RATE), "-F", str(wav), font_path,
                        str(mid)], check=True, capture_output=True, timeout=3600)
        clips = []
        with sf.SoundFile(str(wav)) as f:  # slot by slot: the whole render may be GBs
            rate = f.samplerate
            for e, start in zip(events, starts):
                a, n = start * rate // MS, round(e.seconds * rate)
                f.seek(min(a, f.frames))
                part = f.read(n, dtype="float32", always_2d=True).mean(axis=1)  # (<= n,)
                part = np.pad(part, (0, n - len(part)))
                clip = soxr.resample(part, rate, SAMPLE_RATE).astype(np.float32)
                fade = round(FADE_S * SAMPLE_RATE)
                clip[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
                clips.append(clip)
    return clips


def normalise(events: list[Event], clips: list[np.ndarray]) -> list[np.ndarray | None]:
    """One gain per voice (its loudest clip to PEAK); silent clips become None."""
    peaks = [float(np.abs(c).max(initial=0.0)) for c in clips]
    loudest: dict[str, float] = {}
    for e, p in zip(events, peaks):
        loudest[e.voice] = max(loudest.get(e.voice, 0.0), p)
    out = []
    for e, c, p in zip(events, clips, peaks):
        top = loudest[e.voice]
        out.append(None if top == 0.0 or p < SILENT * top else c * (PEAK / top))
    return out
