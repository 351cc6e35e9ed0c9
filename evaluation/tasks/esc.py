"""`esc`: environmental sound classification in the style of ESC-50: which of 10 kinds of
real recorded sound a 5 s clip holds.

Source: the sound effects of the Debian package widelands-data (GPL-2+), reserved for
evaluation (evaluation/sources.py): recordings of animals and of crafts. Labels come from
the map of file names below (checked by hand against the names and lengths of every file in
widelands-data 1:1.1; no listening test was possible here). Files of no class (interface
sounds, crickets and frog: too few, metal pings, scythe, ...) are not used.

The package is not installed: `tools/install_eval_deps.sh` downloads it and unpacks its
sound folders into `$HEAR_MIXERS_CACHE/packages/widelands-data/` (default
`~/.cache/hear_mixers`); an installed widelands-data under / is used when present.

Clip: 5 s at 44.1 kHz: a recording (downmixed, resampled) from 0..250 ms on, at a peak of
-12..-1 dBFS, cut with a 50 ms fade when longer. Recordings longer than a clip give up to
MAX_WINDOWS clips (consecutive 5 s windows that are not silent).

Folds: 5, by recording session: files that differ only in a trailing number (bird1_00,
bird1_01, ...) are one group, and a group is in one fold only; groups are dealt to folds
class by class (the largest first, onto the fold with fewest clips of that class), so
every class is spread over as many folds as it has groups. Chance: 0.10 (about balanced;
exact class counts in task_metadata.json). Sizes: full = every file; tiny = the first file
of the first 5 groups of each class, one window.
"""

import os
import re
from pathlib import Path

import numpy as np

from evaluation.tasks import common
from hear_mixers.audio_io import read_audio

PACKAGE = "widelands-data"
SOURCES = ("esc-widelands",)  # evaluation.sources names
DATA = "usr/share/games/widelands/data"
RATE = 44100
CLIP_S = 5.0
MAX_WINDOWS = 3
MIN_PEAK = 1e-3
FOLDS = [f"fold{i:02d}" for i in range(5)]
# class -> fnmatch-like regular expressions of paths under DATA
CLASSES: dict[str, tuple[str, ...]] = {
    "bird": (r"sound/animals/bird\d_\d+\.ogg", r"world/critters/duck/duck_\d+\.ogg"),
    "farm_animal": (r"sound/farm/(donkey|farm_animal_\d+|horse_\d+|ox_\d+|sheep_\d+)\.ogg",),
    "wild_mammal": (r"sound/animals/(boar|coyote_\d+|moose_\d+|stag_\d+|wolf_\d+)\.ogg",),
    "sawing": (r"sound/atlanteans/saw/(benchsaw|sawing)_\d+\.ogg", r"sound/sawmill/sawmill_\d+\.ogg"),
    "hammering": (r"sound/hammering/\w+\.ogg", r"sound/smiths/(smith|toolsmith)_\d+\.ogg"),
    "wood_chopping": (r"sound/woodcutting/\w+\.ogg",),
    "stone_working": (r"sound/atlanteans/cutting/stonecutter_\d+\.ogg",
                      r"sound/stonecutting/\w+\.ogg", r"sound/barbarians/(stonegrind|mortar)\.ogg"),
    "kitchen": (r"sound/barbarians/taverns/\w+\.ogg", r"sound/empire/taverns/\w+\.ogg"),
    "bubbling": (r"sound/empire/(beer|wine)bubble_\d+\.ogg", r"sound/metal/fizzle\.ogg"),
    "machinery": (r"sound/mill/\w+\.ogg", r"sound/barbarians/weaver\.ogg",
                  r"sound/atlanteans/goldspin_\d+\.ogg"),
}
LABELS = tuple(CLASSES)


def roots() -> list[Path]:
    """Where widelands' data folder may be: installed, then the cache."""
    cache = Path(os.environ.get("HEAR_MIXERS_CACHE", Path.home() / ".cache" / "hear_mixers"))
    return [Path("/") / DATA, cache / "packages" / PACKAGE / DATA]


def data_root() -> Path | None:
    return next((r for r in roots() if (r / "sound").is_dir()), None)


def available() -> bool:
    return data_root() is not None


def label_of(relative: str) -> str | None:
    for label, patterns in CLASSES.items():
        if any(re.fullmatch(p, relative) for p in patterns):
            return label
    return None


def group_of(relative: str) -> str:
    """Recording session: the path without a trailing _NN."""
    return re.sub(r"_\d+$", "", relative.rsplit(".", 1)[0])


def list_files(root: Path) -> list[tuple[str, str]]:
    """(relative path, label) of every mapped file, sorted."""
    found = []
    for path in sorted(root.rglob("*.ogg")):
        relative = path.relative_to(root).as_posix()
        label = label_of(relative)
        if label is not None:
            found.append((relative, label))
    return found


def windows(audio: np.ndarray, count: int, r: np.random.Generator) -> list[np.ndarray]:
    """Up to `count` consecutive CLIP_S clips of a recording at RATE (short ones: one clip),
    each peak-normalised to -12..-1 dBFS from 0..250 ms on, 50 ms fade where cut; silent
    windows left out."""
    n = round(CLIP_S * RATE)
    out = []
    for k in range(max(1, min(count, len(audio) // n))):
        part = audio[k * n : (k + 1) * n]
        peak = float(np.abs(part).max(initial=0.0))
        if peak < MIN_PEAK:
            continue
        offset = int(r.integers(0, round(0.25 * RATE)))
        part = part[: n - offset]
        if k * n + len(part) < len(audio):
            part = common.fade_out(part, round(0.05 * RATE))
        clip = np.zeros(n, np.float32)
        common.place(clip, part / peak * common.db(r.uniform(-12, -1)), offset)
        out.append(clip)
    return out


def deal_folds(groups: dict[str, tuple[str, int]], r: np.random.Generator) -> dict[str, str]:
    """Group -> fold, class by class: the largest group first (seeded order among equals) onto
    the fold with fewest clips of its class, ties to the fold with fewest clips."""
    total = dict.fromkeys(FOLDS, 0)
    fold_of = {}
    names = sorted(groups)
    names = [names[i] for i in r.permutation(len(names))]
    for label in LABELS:
        mine = sorted((g for g in names if groups[g][0] == label), key=lambda g: -groups[g][1])
        load = dict.fromkeys(FOLDS, 0)
        for g in mine:
            fold = min(FOLDS, key=lambda f: (load[f], total[f]))
            fold_of[g] = fold
            load[fold] += groups[g][1]
            total[fold] += groups[g][1]
    return fold_of


def build(out_dir: Path, size: str, seed: int, sample_rates: list[int]) -> Path:
    root = data_root()
    if root is None:
        raise RuntimeError(f"{PACKAGE}'s sounds not found in {[str(p) for p in roots()]}: "
                           "run tools/install_eval_deps.sh")
    files = list_files(root)
    if size == "tiny":  # the first file of the first 5 groups of each class
        first: dict[str, str] = {}
        for relative, label in files:
            first.setdefault(group_of(relative), relative)
        kept = set()
        for label in LABELS:
            kept |= set(sorted(f for g, f in first.items() if label_of(f) == label)[:5])
        files = [(f, x) for f, x in files if f in kept]
    clips: dict[str, list[np.ndarray]] = {}
    for relative, _ in files:
        r = common.rng(seed, "esc", "clip", relative)
        count = MAX_WINDOWS if size == "full" else 1
        clips[relative] = windows(read_audio(root / relative, RATE), count, r)
    groups: dict[str, tuple[str, int]] = {}
    for relative, label in files:
        g = group_of(relative)
        groups[g] = (label, groups.get(g, (label, 0))[1] + len(clips[relative]))
    fold_of = deal_folds(groups, common.rng(seed, "esc", "folds"))

    info = common.TaskInfo(
        name="esc", embedding_type="scene", prediction_type="multiclass",
        split_mode="new_split_kfold", splits=tuple(FOLDS), labels=LABELS,
        evaluation=("top1_acc",), sample_duration=CLIP_S, source_rate=RATE,
        extra={"source": f"Debian {PACKAGE} sound effects ({root}), labels from file names; "
                         "folds by recording session",
               "licence": "GPL-2+",
               "fold_groups": {f: sorted(g for g, x in fold_of.items() if x == f)
                               for f in FOLDS}})
    writer = common.TaskWriter(out_dir, info, size, sample_rates)
    per_class: dict[str, int] = {}
    for relative, label in files:
        for w, clip in enumerate(clips[relative]):
            writer.add(fold_of[group_of(relative)], clip, [label],
                       {"package": PACKAGE, "file": f"{DATA}/{relative}", "window": w,
                        "group": group_of(relative), "licence": "GPL-2+"})
            per_class[label] = per_class.get(label, 0) + 1
    return writer.finish(clips_per_class=per_class)
