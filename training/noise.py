"""Noise bank: real recorded audio from Debian packages (and drum hits rendered from a
training soundfont), for noise augmentation and the noisy test figures of training.

Sources (training sources only, see `training.sources_train`; installed or unpacked into
the cache by `tools/install_training_deps.sh`):
  sound-theme-freedesktop  desktop event sounds (effects)
  klettres-data            letters and syllables spoken in ~20 languages (babble)
  hedgewars-data           acted voice packs (babble), effects, game music
  lincity-ng-data          ambience loops: industry, traffic, water, crowds, farms
  wesnoth-1.16-data        ambience (birds, campfire, night), weapons, creatures
  supertux-data            effects, rain, waterfall, game music
  freeciv-data             cannons, explosions, machine guns
  fluid-soundfont-gm       drum hits: every GM percussion key of FluidR3_GM's 8 drum kits at
                           two velocities, rendered with fluidsynth (`training.general.music`)
The speech packages make the model robust to talk in the background; the rest to music,
drums, clicks and ambience. The evaluation suite's packages (hydrogen-drumkits,
sonic-pi-samples, ktuberling-data, TimGM6mb, ...) are never read. Speech Commands' own
`_background_noise_` is loaded separately (`training.speech_commands`).

Each file is decoded with `hear_mixers.audio_io.read_audio` (mono, 16 kHz), trimmed of
leading/trailing near-silence, capped at `max_seconds` and peak-normalised (the level is
irrelevant, noise is mixed at a chosen SNR; normalising keeps int16 precise).
Dropped: files whose licence the package's copyright file does not state (4 freedesktop
sounds), near-silent files, files under 50 ms, and babble files named after one of the 35
keywords (klettres has `en/.../no.ogg`, `dog.ogg`): a spoken keyword in the background of
another keyword would be label noise.

Clips: labels -1, `source` = "package/category" (e.g. "klettres-data/babble"), `voice` = the
file path (a drum hit: "FluidR3_GM:kit<n>:<key>:<k>"). The split is by file: per package, a
seeded ~20 % of the (sorted) files is held out as "test" (noise never heard in training),
the rest is "train".

`licences.json`, written next to the bank, records per package its version, every licence
named in its Debian copyright file, the licence of each file used (matched to the copyright
file's `Files:` paragraphs, a heuristic; "unknown" where none names it; the free-form
copyright files of wesnoth and pingus are read by hand, `FREEFORM_LICENCE`), and the files
and seconds used. The bank is training material, not shipped with the weights.

    python -m training.noise OUT_DIR [--max-seconds-per-file 20] [--no-drums]
"""

import argparse
import json
import re
import sys
import zlib
from collections import Counter
from fnmatch import fnmatch
from pathlib import Path

import numpy as np

from hear_mixers.audio_io import read_audio
from training import sources_train
from training.data import SAMPLE_RATE, WORDS, Clips
from training.general import music
from training.sources_train import FREEFORM_LICENCE, copyright_file, package_version

PACKAGES = ("sound-theme-freedesktop", "klettres-data", "hedgewars-data", "lincity-ng-data",
            "wesnoth-1.16-data", "supertux-data", "freeciv-data")
DRUM_PACKAGE = "fluid-soundfont-gm"
_PACKAGE_CATEGORY = {"sound-theme-freedesktop": "effects", "klettres-data": "babble",
                     "lincity-ng-data": "ambience", "freeciv-data": "effects"}
# packages with several kinds: (regex on the lower-cased path, category), first match wins
_PATH_CATEGORY = {
    "hedgewars-data": ((r"/sounds/voices/", "babble"), (r"/music/", "music"), (r"", "effects")),
    "wesnoth-1.16-data": ((r"/ambient/", "ambience"), (r"", "effects")),
    "supertux-data": ((r"/music/", "music"), (r"/speech/", "babble"),
                      (r"/sounds/(rain|waterfall|lava)\.", "ambience"), (r"", "effects")),
}
SILENCE_DBFS = -60.0  # files whose trimmed RMS stays below this are dropped (silent)
TRIM_DB = 60.0  # leading/trailing samples this far below the file's peak are trimmed
MIN_SECONDS = 0.05  # shorter (after trimming) is dropped (short)
PEAK = 0.9  # peak level after normalisation


def package_files(package: str) -> list[tuple[str, str]]:
    """(package, path) of every audio file of the package (installed or unpacked), sorted."""
    return [(package, p) for p in sources_train.package_files(package)]


def category(package: str, path: str) -> str:
    for pattern, kind in _PATH_CATEGORY.get(package, ()):
        if re.search(pattern, path.lower()):
            return kind
    return _PACKAGE_CATEGORY.get(package, "other")


def names_a_keyword(path: str) -> bool:
    """True when a word of the file name (or its plural) is one of the 35 keywords."""
    tokens = re.split(r"[^a-z]+", Path(path).stem.lower())
    return any(t in WORDS or (t.endswith("s") and t[:-1] in WORDS) for t in tokens)


def trim(audio: np.ndarray, max_seconds: float) -> np.ndarray:
    """Without leading/trailing near-silence, at most `max_seconds` long."""
    peak = float(np.abs(audio).max(initial=0.0))
    if peak == 0.0:
        return audio[:0]
    loud = np.flatnonzero(np.abs(audio) >= peak * 10 ** (-TRIM_DB / 20))
    return audio[loud[0] : loud[-1] + 1][: int(max_seconds * SAMPLE_RATE)]


def drop_reason(clip: np.ndarray) -> str | None:
    """"silent" or "short" when the (trimmed) clip is not worth keeping, else None."""
    rms = float(np.sqrt(np.mean(np.square(clip, dtype=np.float64)))) if len(clip) else 0.0
    if rms < 10 ** (SILENCE_DBFS / 20):
        return "silent"
    return "short" if len(clip) < MIN_SECONDS * SAMPLE_RATE else None


def split_by_file(packages: list[str], test_fraction: float, seed: int) -> list[str]:
    """"train"/"test" per item: per package a seeded round(fraction * n) of its items is test.
    Items must come sorted within each package; each package has its own seeded draw."""
    split = ["train"] * len(packages)
    for package in sorted(set(packages)):
        idx = [i for i, p in enumerate(packages) if p == package]
        rng = np.random.default_rng([seed, zlib.crc32(package.encode())])
        for i in rng.choice(idx, size=round(test_fraction * len(idx)), replace=False):
            split[i] = "test"
    return split


def build_bank(files: list[tuple[str, str]], max_seconds: float = 20.0,
               test_fraction: float = 0.2, seed: int = 0) -> tuple[Clips, dict[str, int]]:
    """Noise Clips from (package, path) pairs, and counts of dropped files by reason."""
    clips, packages, sources, voices = [], [], [], []
    dropped = {"silent": 0, "short": 0, "keyword": 0, "unreadable": 0}
    for package, path in sorted(files):
        kind = category(package, path)
        if kind == "babble" and names_a_keyword(path):
            dropped["keyword"] += 1
            continue
        try:
            audio = read_audio(Path(path), SAMPLE_RATE)
        except ValueError as err:
            print(f"skipping {path}: {err}", file=sys.stderr)
            dropped["unreadable"] += 1
            continue
        clip = trim(audio, max_seconds)
        reason = drop_reason(clip)
        if reason:
            dropped[reason] += 1
            continue
        clips.append(clip * (PEAK / np.abs(clip).max()))
        packages.append(package)
        sources.append(f"{package}/{kind}")
        voices.append(path)
    bank = Clips.from_list(clips, labels=np.full(len(clips), -1),
                           split=split_by_file(packages, test_fraction, seed),
                           source=sources, voice=voices)
    return bank, dropped


def licence_names(text: str) -> list[str]:
    """Licence names of the `License:` lines of a Debian copyright file's text."""
    return sorted(set(re.findall(r"^License:[ \t]*(\S.*?)\s*$", text, re.M)))


def package_licences(package: str) -> list[str]:
    """Licence names of the `License:` lines of the package's Debian copyright file."""
    path = copyright_file(package)
    return licence_names(path.read_text(errors="replace")) if path.exists() else []


def copyright_stanzas(text: str) -> list[tuple[list[str], str]]:
    """(file patterns, licence) of each `Files:` paragraph of a Debian copyright file."""
    stanzas = []
    for block in re.split(r"\n[ \t]*\n", text):
        files = re.search(r"^Files:(.*(?:\n[ \t].*)*)", block, re.M)
        licence = re.search(r"^License:[ \t]*(\S.*?)\s*$", block, re.M)
        if files and licence:
            stanzas.append((files.group(1).split(), licence.group(1)))
    return stanzas


def _matches(path: str, pattern: str) -> int:
    """How specifically an installed file comes from a source-tree pattern (a heuristic:
    Debian copyright files name source paths, not installed ones): -1 no match, 0 the
    catch-all "*", else the number of path components the matching pattern names."""
    name = pattern.rsplit("/", 1)[-1]
    parts = pattern.split("/")
    if name.endswith(".h2drumkit"):  # hydrogen: one archive per installed kit folder
        return 2 if fnmatch(Path(path).parent.name, name.removesuffix(".h2drumkit") + "*") else -1
    if pattern == "*":
        return 0
    if fnmatch(path, "*/" + pattern):
        return len(parts)
    # games install share/<game>/... as share/games/<game>/...: a tail of the pattern of at
    # least three components ("Data/Sounds/*") that matches counts too
    for k in range(1, len(parts) - 2):
        if fnmatch(path, "*/" + "/".join(parts[k:])):
            return len(parts) - k
    # sonic-pi names etc/samples/x.flac, installed as /usr/share/sonic-pi/samples/x.flac
    return 1 if not any(c in name for c in "*?[") and Path(path).name == name else -1


def file_licence(path: str, stanzas: list[tuple[list[str], str]]) -> str:
    """Licence of the paragraph matching the file most specifically (most path components
    named); among equally specific ones the last (Debian's rule); else "unknown". The most
    specific match keeps a source folder's paragraph (`hedgewars/*`: code) from overriding
    one of installed data (`share/hedgewars/Data/Sounds/*`) that also matches."""
    licence, best = "unknown", -1
    for patterns, name in stanzas:
        score = max((_matches(path, p) for p in patterns), default=-1)
        if score >= 0 and score >= best:
            licence, best = name, score
    return licence


def package_stanzas(package: str) -> list[tuple[list[str], str]]:
    copyright = copyright_file(package)
    return copyright_stanzas(copyright.read_text(errors="replace") if copyright.exists() else "")


def licence_of(package: str, path: str, stanzas: list[tuple[list[str], str]]) -> str:
    """A file's licence: read by hand for free-form copyright files, else `file_licence`;
    a rendered drum hit has its soundfont package's licence."""
    if package in FREEFORM_LICENCE:
        return FREEFORM_LICENCE[package]
    if package == DRUM_PACKAGE:
        return file_licence(music.FONTS["FluidR3_GM"][1], stanzas)
    return file_licence(path, stanzas)


def drum_hits(test_fraction: float, seed: int, kits=music.KITS, keys=None,
              velocities: int = 2) -> Clips:
    """Drum hits of FluidR3_GM's kits (every GM percussion key unless `keys`), trimmed and
    peak-normalised like the files; split by hit, seeded."""
    events = music.plan("FluidR3_GM", (), kits, 0, velocities, seed, keys)
    clips, names = [], []
    for k, (e, clip) in enumerate(zip(events, music.render(music.FONTS["FluidR3_GM"][1], events))):
        hit = trim(clip, 1.0)
        peak = float(np.abs(hit).max(initial=0.0))
        hit = hit * (PEAK / peak) if peak > 0 else hit  # levels differ by velocity: normalised
        if drop_reason(hit) is None:
            clips.append(hit)
            names.append(f"{e.voice}:{e.notes[0][2]}:{k}")
    return Clips.from_list(clips, labels=np.full(len(clips), -1),
                           split=split_by_file([DRUM_PACKAGE] * len(clips), test_fraction, seed),
                           source=[f"{DRUM_PACKAGE}/drums"] * len(clips), voice=names)


def licence_report(bank: Clips, packages: list[str]) -> dict[str, dict]:
    package_of = np.array([s.split("/")[0] for s in bank.source])
    report = {}
    for package in packages:
        mine = package_of == package
        copyright = copyright_file(package)
        stanzas = package_stanzas(package)
        per_file = Counter(licence_of(package, v, stanzas) for v in bank.voice[mine])
        report[package] = {
            "version": package_version(package),
            "licences": package_licences(package) or
            ([FREEFORM_LICENCE[package]] if package in FREEFORM_LICENCE else []),
            "audio_licences": dict(per_file.most_common()),
            "copyright": str(copyright),
            "files": int(mine.sum()),
            "test_files": int((mine & (bank.split == "test")).sum()),
            "seconds": round(float(bank.lengths[mine].sum()) / SAMPLE_RATE, 1),
        }
    return report


def load_noise(folder) -> Clips:
    return Clips.load(folder)


SIZES = {"tiny": 3, "full": None}  # files per package (tiny: the first 3 of each)


def build(out_dir: Path, size: str = "full", seed: int = 0, max_seconds: float = 20.0,
          test_fraction: float = 0.2, drums: bool = True) -> tuple[Clips, dict, dict]:
    """The bank into `out_dir`: (bank, dropped counts, licence report)."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}: {sorted(SIZES)}")
    files, missing = [], []
    for package in PACKAGES:
        found = package_files(package)
        if not found:
            missing.append(package)
        files += found[: SIZES[size]] if SIZES[size] else found
    for package in missing:
        print(f"warning: {package} is not installed, skipped", file=sys.stderr)
    # files whose licence the package's copyright file does not state are not used
    stanzas = {package: package_stanzas(package) for package in PACKAGES}
    known = [(p, f) for p, f in files if licence_of(p, f, stanzas[p]) != "unknown"]
    bank, dropped = build_bank(known, max_seconds, test_fraction, seed)
    dropped["unknown licence"] = len(files) - len(known)
    packages = list(PACKAGES)
    font = music.FONTS["FluidR3_GM"][1]
    if drums and Path(font).is_file():
        tiny = size == "tiny"
        hits = drum_hits(test_fraction, seed, music.KITS[:1] if tiny else music.KITS,
                         (36, 38, 42) if tiny else None, 1 if tiny else 2)
        bank = Clips.concat([bank, hits]) if len(bank) else hits
        packages.append(DRUM_PACKAGE)
    elif drums:
        print(f"warning: {font} missing: no drum hits", file=sys.stderr)
    out_dir = Path(out_dir)
    bank.save(out_dir)
    report = licence_report(bank, packages)
    (out_dir / "licences.json").write_text(json.dumps(report, indent=2) + "\n")
    return bank, dropped, report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--max-seconds-per-file", type=float, default=20.0)
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-drums", action="store_true", help="no rendered drum hits")
    args = parser.parse_args(argv)
    bank, dropped, report = build(args.out_dir, args.size, args.seed, args.max_seconds_per_file,
                                  args.test_fraction, not args.no_drums)

    print(f"{'package':<26}{'files':>7}{'test':>6}{'minutes':>9}  licences of the files used")
    for package, r in report.items():
        licences = ", ".join(f"{k} ({n})" for k, n in r["audio_licences"].items())
        print(f"{package:<26}{r['files']:>7}{r['test_files']:>6}{r['seconds'] / 60:>9.1f}  "
              f"{licences}")
    minutes = {s: bank.lengths[bank.split == s].sum() / SAMPLE_RATE / 60 for s in ("train", "test")}
    print(f"{len(bank)} clips ({minutes['train']:.1f} min train, {minutes['test']:.1f} min test), "
          f"dropped {dropped}; saved to {args.out_dir}")


if __name__ == "__main__":
    main()
