"""Where the training data comes from: every Debian package a training builder reads, how
its files are reached, and what their licences are.

A package is used either installed into `/` (small ones, `apt-get install`, found with
`dpkg -L`) or downloaded and unpacked into a cache folder without installing it (big game
data: `apt-get download` + `dpkg -x` into `$HEAR_MIXERS_CACHE/packages/<package>/`, default
`~/.cache/hear_mixers`; a game archive `x.pk3`, a zip, is unpacked beside it into
`x.pk3.d/`). `tools/install_training_deps.sh` does both; so does
`python -m training.sources_train fetch PACKAGE...`.

Evaluation reserves some packages, soundfonts and voices (`evaluation/sources.py`, the
suite's table, marks them eval-only); `RESERVED` repeats the ones decided when this table
was written. `check_not_reserved` refuses any of them and any package the suite's table
marks eval-only in whole or in part (widelands-data's effects are the suite's ESC task: the
package is not used here), so a training builder fails loudly instead of leaking into the
suite; `package_files` also leaves out every file the suite's table reserves by path.

Licences: Debian copyright files of the machine-readable format name a licence per
`Files:` paragraph (matched to installed paths with `training.noise.file_licence`, a
heuristic); a few packages (wesnoth, pingus) have free-form copyright files, for which
`FREEFORM_LICENCE` records what the file says, read by hand.
"""

import argparse
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus")

# Decided by the lead for the evaluation suite (issue 14): never read by training.
RESERVED = {
    "timgm6mb-soundfont": "instrument and pitch tasks (TimGM6mb.sf2)",
    "hydrogen-drumkits": "drums task",
    "hydrogen-drumkits-effects": "drums task",
    "sonic-pi-samples": "evaluation noise and events",
    "ktuberling-data": "language identification",
}
RESERVED_FILES = ("/usr/share/sounds/sf2/TimGM6mb.sf2",)

# Packages the training builders may read: package -> (install mode, what it gives).
TRAINING_PACKAGES = {
    "espeak-ng": ("apt", "speech engine: synthetic keywords"),
    "flite": ("apt", "speech engine: synthetic keywords"),
    "festival": ("apt", "speech engine: synthetic keywords"),
    "fluidsynth": ("apt", "soundfont renderer"),
    "fluid-soundfont-gm": ("apt", "FluidR3_GM.sf2: notes, chords, phrases, drum kits"),
    "musescore-general-soundfont": ("apt", "MuseScore_General_Full.sf3: notes, drum kits"),
    "klettres-data": ("apt", "real speech: letters and syllables in 19 languages"),
    "sound-theme-freedesktop": ("apt", "desktop event sounds"),
    "oxygen-sounds": ("apt", "desktop event sounds"),
    "wesnoth-1.16-data": ("extract", "effects: weapons, creatures, ambience, horns"),
    "lincity-ng-data": ("extract", "ambience loops: industry, traffic, water, crowds"),
    "hedgewars-data": ("extract", "effects, game music, acted voice packs"),
    "supertux-data": ("extract", "effects, rain and thunder, game music"),
    "supertuxkart-data": ("extract", "engines, birds, rivers, crashes; game music"),
    "openarena-data": ("extract", "footsteps, guns, explosions, machinery (inside .pk3)"),
    "redeclipse-data": ("extract", "water, wind, forest and insect ambience; footsteps, guns"),
    "extremetuxracer-data": ("extract", "sliding on snow, ice, grass; game music"),
    "frozen-bubble-data": ("extract", "a few effects, game music"),
    "freeciv-data": ("extract", "cannons, explosions, machine guns"),
    "pingus-data": ("extract", "a few effects"),
    "xmoto-data": ("extract", "game music"),
}
FREEFORM_LICENCE = {  # copyright files without `Files:`/`License:` paragraphs, read by hand
    "wesnoth-1.16-data": "GPL-2",
    "pingus-data": "GPL-2+",
    "fluid-soundfont-gm": "MIT",  # "I hereby release Fluid under the MIT license"
    "musescore-general-soundfont": "MIT (parts public domain or CC0)",
    "espeak-ng": "GPL-3+",  # engine; the words it speaks are our own text
    "flite": "BSD-style (CMU), a few build files GPL-2",  # engine and its voices
    "festival": "X11-style (Edinburgh and CMU)",  # engine; voices: festvox-* packages
}


def cache_dir() -> Path:
    return Path(os.environ.get("HEAR_MIXERS_CACHE", Path.home() / ".cache" / "hear_mixers"))


def _installed(package: str) -> bool:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package],
                         capture_output=True, text=True)
    return out.returncode == 0 and out.stdout.endswith("installed")


def package_root(package: str) -> Path | None:
    """`/` for an installed package, its unpacked folder in the cache, or None."""
    if _installed(package):
        return Path("/")
    unpacked = cache_dir() / "packages" / package
    return unpacked if unpacked.is_dir() else None


def available(package: str) -> bool:
    return package_root(package) is not None


def package_files(package: str, suffixes=AUDIO_SUFFIXES) -> list[str]:
    """Every file of the package whose name ends in `suffixes`, sorted; [] if absent."""
    check_not_reserved([package])
    root = package_root(package)
    if root is None:
        return []
    if root == Path("/"):
        listing = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True,
                                 check=True).stdout.splitlines()
        paths = [p for p in listing if Path(p).is_file()]
    else:
        paths = [str(p) for p in root.rglob("*") if p.is_file()]
    return sorted(p for p in paths if p.lower().endswith(suffixes) and not is_reserved_path(p))


def copyright_file(package: str) -> Path:
    root = package_root(package) or Path("/")
    return root / "usr/share/doc" / package / "copyright"


def package_version(package: str) -> str:
    if _installed(package):
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package],
                             capture_output=True, text=True)
        return out.stdout.strip() or "unknown"
    marker = cache_dir() / "packages" / package / ".version"
    return marker.read_text().strip() if marker.exists() else "unknown"


def _suite():
    """The suite's source table (evaluation/sources.py), None where it is not importable."""
    try:
        from evaluation import sources
    except ImportError:
        return None
    return sources


def eval_only() -> set[str]:
    """Packages and files reserved for evaluation: RESERVED, RESERVED_FILES and every package
    the suite's table marks eval-only in whole or in part."""
    names = set(RESERVED) | set(RESERVED_FILES)
    suite = _suite()
    if suite is not None:
        names |= set(suite.eval_only_packages())
    return names


def is_reserved_path(path: str) -> bool:
    """Whether a file belongs to a source the suite reserves (its table decides by path)."""
    suite = _suite()
    if suite is not None and suite.is_eval_only_path(path):
        return True
    return os.path.realpath(path) in RESERVED_FILES or path in RESERVED_FILES


def is_reserved_voice(voice: str) -> bool:
    """Whether a synthetic voice id ("espeak-ng:en-us+f2") is held out for the suite."""
    suite = _suite()
    return suite is not None and suite.is_eval_only_voice(voice)


def check_not_reserved(names) -> None:
    """ValueError if any of `names` (packages or files) is reserved for evaluation."""
    names = [str(n) for n in names]
    bad = sorted((set(names) & eval_only()) | {n for n in names if "/" in n
                                                and is_reserved_path(n)})
    if bad:
        raise ValueError(f"reserved for evaluation, never read by training: {', '.join(bad)}")


def fetch(package: str) -> Path:
    """Download and unpack a package into the cache (no install); idempotent."""
    check_not_reserved([package])
    target = cache_dir() / "packages" / package
    if (target / ".version").exists():
        return target
    debs = cache_dir() / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", "-q", package], cwd=debs, check=True)
    deb = max(debs.glob(f"{package}_*.deb"), key=lambda p: p.stat().st_mtime)
    subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)
    for archive in sorted(target.rglob("*.pk3")):  # game archives (zip): unpacked beside
        with zipfile.ZipFile(archive) as z:
            z.extractall(archive.with_name(archive.name + ".d"))
    version = re.match(rf"{re.escape(package)}_([^_]+)_", deb.name)
    (target / ".version").write_text((version.group(1).replace("%3a", ":") if version
                                      else "unknown") + "\n")
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="training sources: list or fetch")
    parser.add_argument("command", choices=("list", "fetch"))
    parser.add_argument("packages", nargs="*")
    args = parser.parse_args(argv)
    if args.command == "fetch":
        for package in args.packages or [p for p, (m, _) in TRAINING_PACKAGES.items()
                                         if m == "extract"]:
            print(f"{package}: {fetch(package)}")
        return
    for package, (mode, what) in TRAINING_PACKAGES.items():
        root = package_root(package)
        print(f"{package:30s} {mode:8s} {str(root) if root else 'missing':50s} {what}")
    if any(package_root(p) is None for p in TRAINING_PACKAGES):
        sys.exit(1)


if __name__ == "__main__":
    main()
