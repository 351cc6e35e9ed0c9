"""`instrument`: NSynth-style instrument family of a single rendered note. Label: the General
MIDI family of the program that played it (piano, mallet, organ, guitar, bass, strings,
brass, reed, pipe, synth_lead; GM's ensembles, pads, effects and percussion are left out).

Notes are rendered by the Debian fluidsynth from TimGM6mb (timgm6mb-soundfont, GPL-2), a
soundfont reserved for evaluation (evaluation/sources.py), exactly as in `pitch` (one
fluidsynth call per program, reverb and chorus off, 1 s clips at 48 kHz, 10 ms fade at the
cut, peak 0.9, silent notes dropped). Pitch: uniform in the family's range (bass 28..60,
the others 36..84, C2..C6); velocity uniform 40..120.

Split: by program, as NSynth splits by instrument: in every family, seeded, 2 of its 8
programs are test, 1 valid, the rest train (tiny: 1 each), so every split has every family
and no program is heard in two splits. Counts: full 10 families x 8 programs x 16 notes
(test 320); tiny 10 x 3 x 2. Chance: 0.10 (balanced families).
"""

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from evaluation.tasks import common, pitch

RATE = pitch.RATE
SOURCES = ("timgm6mb", "fluidsynth")  # evaluation.sources names
FAMILIES = ("piano", "mallet", "organ", "guitar", "bass", "strings", "brass", "reed", "pipe",
            "synth_lead")
FIRST_PROGRAM = {"piano": 0, "mallet": 8, "organ": 16, "guitar": 24, "bass": 32, "strings": 40,
                 "brass": 56, "reed": 64, "pipe": 72, "synth_lead": 80}  # GM, 0-based, 8 each
RANGE = {"bass": (28, 60)}  # MIDI pitches, inclusive; other families: DEFAULT_RANGE
DEFAULT_RANGE = (36, 84)
PROGRAMS_PER_SPLIT = {"full": {"test": 2, "valid": 1, "train": 5},
                      "tiny": {"test": 1, "valid": 1, "train": 1}}
NOTES = {"full": 16, "tiny": 2}  # notes per program


def available() -> bool:
    return pitch.available()


def programs(size: str, seed: int) -> dict[int, tuple[str, str]]:
    """GM program -> (family, split): per family a seeded draw of its 8 programs."""
    chosen = {}
    for family in FAMILIES:
        r = common.rng(seed, "instrument", "programs", family)
        order = [FIRST_PROGRAM[family] + int(i) for i in r.permutation(8)]
        for split, count in PROGRAMS_PER_SPLIT[size].items():
            for program in order[:count]:
                chosen[program] = (family, split)
            order = order[count:]
    return dict(sorted(chosen.items()))


def build(out_dir: Path, size: str, seed: int, sample_rates: list[int]) -> Path:
    found = pitch.soundfont()
    if shutil.which("fluidsynth") is None or found is None:
        raise RuntimeError("fluidsynth or timgm6mb-soundfont missing: tools/install_eval_deps.sh")
    package, font = found
    chosen = programs(size, seed)
    notes: dict[int, list[tuple[int, int]]] = {}
    for program, (family, _) in chosen.items():
        r = common.rng(seed, "instrument", "notes", str(program))
        low, high = RANGE.get(family, DEFAULT_RANGE)
        notes[program] = [(int(r.integers(low, high + 1)), int(r.integers(40, 121)))
                          for _ in range(NOTES[size])]
    with ThreadPoolExecutor(max(2, os.cpu_count() or 1)) as pool:  # fluidsynth processes
        rendered = list(pool.map(lambda p: pitch.render(p, notes[p], font), chosen))

    info = common.TaskInfo(
        name="instrument", embedding_type="scene", prediction_type="multiclass",
        split_mode="trainvaltest", splits=("train", "valid", "test"), labels=FAMILIES,
        evaluation=("top1_acc",), sample_duration=pitch.CLIP_S, source_rate=RATE,
        extra={"source": f"fluidsynth {common.package_version('fluidsynth')}, soundfont {font} "
                         f"(Debian {package} {common.package_version(package)}); split by "
                         "GM program within each family",
               "programs": {s: sorted(p for p, (_, x) in chosen.items() if x == s)
                            for s in ("train", "valid", "test")}})
    writer = common.TaskWriter(out_dir, info, size, sample_rates)
    silent = 0
    for (program, (family, split)), clips in zip(chosen.items(), rendered):
        for (note, velocity), clip in zip(notes[program], clips):
            if clip is None:
                silent += 1
                continue
            writer.add(split, clip, [family], {"program": program, "pitch": note,
                                               "velocity": velocity, "soundfont": font,
                                               "package": package})
    return writer.finish(silent_notes_dropped=silent)
