"""`esc`: environmental sound classification in the style of ESC-50: which of 13 kinds of
real recorded sound a 5 s clip holds (bird, farm_animal, wild_mammal, sawing, hammering,
wood_chopping, stone_working, kitchen, bubbling, machinery, footsteps, sword, arrow).

Sources, reserved for evaluation (evaluation/sources.py):
  widelands-data  its sound effects (GPL-2+): animals and crafts; both sizes;
  0ad-data        the effects of its actor/, attack/ and resource/ audio folders
                  (CC-BY-SA-3.0): animals, footsteps, weapons, wood chopping, sawing, stone;
                  full size only (its .deb is 1.4 GB). Its ambiences (rain, wind, rivers),
                  music and voices are left to training.
Labels come from the maps of file names below (checked by hand against the names and
lengths of the files of widelands-data 1:1.1 and 0ad-data 0.0.26; no listening test was
possible here). Files of no class (interface sounds, crickets, metal pings, scythe, human
death cries, fire, ...) are not used.

Neither package is installed: `tools/install_eval_deps.sh` downloads them and unpacks the
audio into `$HEAR_MIXERS_CACHE/packages/<package>/` (default `~/.cache/hear_mixers`;
0ad-data only with `full`); an installed widelands-data under / is used when present.

Clip: 5 s at 44.1 kHz: a recording (downmixed, resampled) from 0..250 ms on, at a peak of
-12..-1 dBFS, cut with a 50 ms fade when longer. Recordings longer than a clip give up to
MAX_WINDOWS clips (consecutive 5 s windows that are not silent).

Folds: 5, by recording session: files that differ only in a trailing number (bird1_00,
bird1_01, fs_grass_3, swordhit_12b, ...) are one group, and a group is in one fold only;
groups are dealt to folds class by class (the largest first, onto the fold with fewest clips
of that class), so every class is spread over as many folds as it has groups. Of a group,
at most MAX_PER_GROUP files are used (a seeded choice), so that the many takes of one 0ad
recording do not outweigh the rest, and at most MAX_PER_CLASS files of a class. Chance: the largest class's share (task_metadata.json
has the counts). Sizes: full = both packages; tiny = widelands-data only, the first file of
the first 5 groups of each class, one window (its vocabulary is the full one).
"""

import os
import re
from pathlib import Path

import numpy as np

from evaluation.tasks import common
from hear_mixers.audio_io import read_audio

PACKAGE = "widelands-data"
SOURCES = ("esc-widelands", "esc-0ad")  # evaluation.sources names
DATA = "usr/share/games/widelands/data"
PACKAGE_0AD = "0ad-data"
MAX_PER_GROUP = 12
MAX_PER_CLASS = 40
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
# 0ad-data: paths under the unpacked audio folder (public.zip's "audio/")
CLASSES_0AD: dict[str, tuple[str, ...]] = {
    "bird": (r"actor/fauna/animal/(chicken|flamingo|peacock_call)(_?\d+)?\.ogg",),
    "farm_animal": ((r"actor/fauna/animal/(cattle|pig|pig_death|pig_squeal_move|sheep|camel|horse"
                     r"|horse_attack|horse_death|horse_idle|horse_select)(_?\d+)?\.ogg"),
                    r"actor/fauna/death/(goat|death_camel|death_horse)(_?\d+)?\.ogg"),
    "wild_mammal": (r"actor/fauna/animal/(elephant|lion)_[a-z]+\d*\.ogg",),
    "footsteps": (r"actor/singlesteps/fs_[a-z]+_?\d+\.ogg",
                  r"actor/human/movement/Footsteps/\w+\.ogg",
                  r"actor/human/movement/hstep_\w+\.ogg"),
    "sword": (r"attack/weapon/(sword_attack|swordhit)(_\w+)?\.ogg",),
    "arrow": (r"attack/weapon/(arrowfly|bow_attack)(_?\d+)?\.ogg",
              r"attack/impact/arrow(_[a-z]+)?(_?\d+)?\.ogg"),
    "wood_chopping": (r"resource/lumbering/lumber_tree(_?\d+)?\.ogg",),
    "sawing": (r"resource/construction/con_saw(_?\d+)?\.ogg",),
    "stone_working": (r"resource/mining/mine_stone(_?\d+)?\.ogg",
                      r"resource/construction/con_stone(_?\d+)?\.ogg"),
}
LABELS = (*CLASSES, "footsteps", "sword", "arrow")


def cache() -> Path:
    return Path(os.environ.get("HEAR_MIXERS_CACHE", Path.home() / ".cache" / "hear_mixers"))


def roots() -> list[Path]:
    """Where widelands' data folder may be: installed, then the cache."""
    return [Path("/") / DATA, cache() / "packages" / PACKAGE / DATA]


def data_root() -> Path | None:
    return next((r for r in roots() if (r / "sound").is_dir()), None)


def root_0ad() -> Path:
    """0ad-data's unpacked audio folder (public.zip's "audio/")."""
    return cache() / "packages" / PACKAGE_0AD / "audio"


def available() -> bool:
    return data_root() is not None


def label_of(relative: str, classes: dict[str, tuple[str, ...]] = CLASSES) -> str | None:
    for label, patterns in classes.items():
        if any(re.fullmatch(p, relative) for p in patterns):
            return label
    return None


def group_of(relative: str) -> str:
    """Recording session: the path without a trailing _NN (widelands: bird1_00 -> bird1);
    0ad: without trailing numbers, with or without "_" (horse_attack1, swordhit_12b, sling_210
    -> horse_attack, swordhit, sling)."""
    stem = relative.rsplit(".", 1)[0]
    if relative.startswith("0ad:"):
        return re.sub(r"(_?\d+[a-z]?)+$", "", stem)
    return re.sub(r"(_\d+)+$", "", stem)


def list_files(root: Path, classes: dict[str, tuple[str, ...]] = CLASSES
               ) -> list[tuple[str, str]]:
    """(relative path, label) of every mapped file, sorted."""
    found = []
    for path in sorted(root.rglob("*.ogg")):
        relative = path.relative_to(root).as_posix()
        label = label_of(relative, classes)
        if label is not None:
            found.append((relative, label))
    return found


def cap_groups(files: list[tuple[str, str]], seed: int) -> list[tuple[str, str]]:
    """At most MAX_PER_GROUP files of each group, then at most MAX_PER_CLASS of each class
    (seeded choices), in the given order."""
    groups: dict[str, list[str]] = {}
    for relative, _ in files:
        groups.setdefault(group_of(relative), []).append(relative)
    kept = set()
    for g, members in groups.items():
        r = common.rng(seed, "esc", "cap", g)
        kept |= {members[i] for i in r.permutation(len(members))[:MAX_PER_GROUP]}
    for label in LABELS:
        mine = [f for f, x in files if x == label and f in kept]
        r = common.rng(seed, "esc", "class cap", label)
        kept -= {mine[i] for i in r.permutation(len(mine))[MAX_PER_CLASS:]}
    return [(f, x) for f, x in files if f in kept]


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


def path_of(relative: str, root: Path) -> Path:
    """A file of the task: "0ad:<path>" under 0ad's audio, else under widelands' data."""
    return root_0ad() / relative[4:] if relative.startswith("0ad:") else root / relative


def build(out_dir: Path, size: str, seed: int, sample_rates: list[int]) -> Path:
    root = data_root()
    if root is None:
        raise RuntimeError(f"{PACKAGE}'s sounds not found in {[str(p) for p in roots()]}: "
                           "run tools/install_eval_deps.sh")
    files = list_files(root)
    if size == "full":
        if not (root_0ad() / "actor").is_dir():
            raise RuntimeError(f"{PACKAGE_0AD}'s audio not found in {root_0ad()}: "
                               "run tools/install_eval_deps.sh full")
        files = cap_groups(files + [(f"0ad:{f}", x) for f, x in list_files(root_0ad(),
                                                                           CLASSES_0AD)], seed)
    else:  # the first file of the first 5 groups of each class
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
        clips[relative] = windows(read_audio(path_of(relative, root), RATE), count, r)
    groups: dict[str, tuple[str, int]] = {}
    for relative, label in files:
        g = group_of(relative)
        groups[g] = (label, groups.get(g, (label, 0))[1] + len(clips[relative]))
    fold_of = deal_folds(groups, common.rng(seed, "esc", "folds"))

    info = common.TaskInfo(
        name="esc", embedding_type="scene", prediction_type="multiclass",
        split_mode="new_split_kfold", splits=tuple(FOLDS), labels=LABELS,
        evaluation=("top1_acc",), sample_duration=CLIP_S, source_rate=RATE,
        extra={"source": f"Debian {PACKAGE} sound effects ({root})"
                         + (f" and {PACKAGE_0AD}'s effects ({root_0ad()})" if size == "full"
                            else "") + ", labels from file names; folds by recording session",
               "licence": "GPL-2+ (widelands-data), CC-BY-SA-3.0 (0ad-data)",
               "fold_groups": {f: sorted(g for g, x in fold_of.items() if x == f)
                               for f in FOLDS}})
    writer = common.TaskWriter(out_dir, info, size, sample_rates)
    per_class: dict[str, int] = {}
    for relative, label in files:
        for w, clip in enumerate(clips[relative]):
            is_0ad = relative.startswith("0ad:")
            writer.add(fold_of[group_of(relative)], clip, [label],
                       {"package": PACKAGE_0AD if is_0ad else PACKAGE,
                        "file": f"audio/{relative[4:]}" if is_0ad else f"{DATA}/{relative}",
                        "window": w, "group": group_of(relative),
                        "licence": "CC-BY-SA-3.0" if is_0ad else "GPL-2+"})
            per_class[label] = per_class.get(label, 0) + 1
    return writer.finish(clips_per_class=per_class)
