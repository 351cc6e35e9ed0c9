"""Noise bank: real recorded audio from Debian packages, for noise augmentation and the
noisy test figures.

Sources (all in Debian `main`, installed by `tools/install_training_deps.sh`):
  sonic-pi-samples         ambience, drums, effects and music loops
  hydrogen-drumkits        drum kit hits (many kits, acoustic and electronic)
  sound-theme-freedesktop  desktop event sounds (effects)
  klettres-data            letters and syllables spoken in ~20 languages (babble)
  ktuberling-data          words spoken in ~25 languages (babble)
The speech packages make the model robust to talk in the background; the rest to music,
drums, clicks and tones. Speech Commands' own `_background_noise_` is loaded separately
(`training.speech_commands`).

Each file is decoded (soundfile: wav, flac, ogg/oga/opus), downmixed to mono, resampled to
16 kHz, trimmed of leading/trailing near-silence, capped at `max_seconds` and peak-normalised
(the level is irrelevant, noise is mixed at a chosen SNR; normalising keeps int16 precise).
Dropped: files whose licence the package's copyright file does not state (4 freedesktop
sounds), near-silent files, files under 50 ms, and babble files named after one of the 35
keywords (klettres has `en/.../no.ogg`, `dog.ogg`; ktuberling `tv_tree.ogg`): a spoken keyword
in the background of another keyword would be label noise.

Clips: labels -1, `source` = "package/category" (e.g. "klettres-data/babble"), `voice` = the
file path. The split is by file: per package, a seeded ~20 % of the (sorted) files is held out
as "test" (noise never heard in training), the rest is "train".

Licences differ per file: GPL-2+ (klettres, ktuberling), CC0 or MIT (sonic-pi), per kit GPL-2,
GPL-2+, CC-BY-3.0, CC-BY-SA-3.0 or CC0 (hydrogen), CC-BY(-SA)-3.0 or GPL-2(+) (freedesktop).
`licences.json`, written next to the bank, records per package its version, every licence
named in `/usr/share/doc/<pkg>/copyright`, the licence of each file used (matched to the
copyright file's `Files:` paragraphs, a heuristic; "unknown" where none names it), and the
files and seconds used. The bank is training material, not shipped with the weights.

    python -m training.noise OUT_DIR [--max-seconds-per-file 20]
"""

import argparse
import json
import re
import subprocess
import sys
import zlib
from collections import Counter
from fnmatch import fnmatch
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from training.data import SAMPLE_RATE, WORDS, Clips

PACKAGES = ("sonic-pi-samples", "hydrogen-drumkits", "sound-theme-freedesktop",
            "klettres-data", "ktuberling-data")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus")
_PACKAGE_CATEGORY = {"hydrogen-drumkits": "drums", "sound-theme-freedesktop": "effects",
                     "klettres-data": "babble", "ktuberling-data": "babble"}
# sonic-pi sample names start with their kind: ambi_choir, bd_haus, loop_amen, ...
_SONIC_PI_CATEGORY = {"ambi": "ambience", "vinyl": "ambience", "bd": "drums", "sn": "drums",
                      "drum": "drums", "perc": "drums", "tabla": "drums", "elec": "effects",
                      "glitch": "effects", "misc": "effects", "bass": "music",
                      "guit": "music", "loop": "music", "mehackit": "music"}
SILENCE_DBFS = -60.0  # files whose trimmed RMS stays below this are dropped (silent)
TRIM_DB = 60.0  # leading/trailing samples this far below the file's peak are trimmed
MIN_SECONDS = 0.05  # shorter (after trimming) is dropped (short)
PEAK = 0.9  # peak level after normalisation


def package_files(package: str) -> list[tuple[str, str]]:
    """(package, path) of every audio file the Debian package installed, sorted."""
    listing = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True,
                             check=True).stdout.splitlines()
    return [(package, p) for p in sorted(listing)
            if p.lower().endswith(AUDIO_SUFFIXES) and Path(p).is_file()]


def category(package: str, path: str) -> str:
    if package == "sonic-pi-samples":
        return _SONIC_PI_CATEGORY.get(Path(path).name.split("_")[0], "effects")
    return _PACKAGE_CATEGORY.get(package, "other")


def names_a_keyword(path: str) -> bool:
    """True when a word of the file name (or its plural) is one of the 35 keywords."""
    tokens = re.split(r"[^a-z]+", Path(path).stem.lower())
    return any(t in WORDS or (t.endswith("s") and t[:-1] in WORDS) for t in tokens)


def read_mono(path: str, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Any soundfile-readable file as float32 mono at `rate` (16 kHz by default)."""
    audio, file_rate = sf.read(path, dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    if file_rate != rate:
        mono = soxr.resample(mono, file_rate, rate)
    return np.ascontiguousarray(mono, dtype=np.float32)


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
            audio = read_mono(path)
        except (RuntimeError, ValueError) as err:  # soundfile errors are RuntimeErrors
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


def package_version(package: str) -> str:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package],
                         capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def package_licences(package: str) -> list[str]:
    """Licence names of the `License:` lines of the package's Debian copyright file."""
    path = Path("/usr/share/doc") / package / "copyright"
    if not path.exists():
        return []
    found = re.findall(r"^License:[ \t]*(\S.*?)\s*$", path.read_text(errors="replace"), re.M)
    return sorted(set(found))


def copyright_stanzas(text: str) -> list[tuple[list[str], str]]:
    """(file patterns, licence) of each `Files:` paragraph of a Debian copyright file."""
    stanzas = []
    for block in re.split(r"\n[ \t]*\n", text):
        files = re.search(r"^Files:(.*(?:\n[ \t].*)*)", block, re.M)
        licence = re.search(r"^License:[ \t]*(\S.*?)\s*$", block, re.M)
        if files and licence:
            stanzas.append((files.group(1).split(), licence.group(1)))
    return stanzas


def _matches(path: str, pattern: str) -> bool:
    """Whether an installed file comes from a source-tree pattern (a heuristic: Debian
    copyright files name source paths, not installed ones)."""
    name = pattern.rsplit("/", 1)[-1]
    if name.endswith(".h2drumkit"):  # hydrogen: one archive per installed kit folder
        return fnmatch(Path(path).parent.name, name.removesuffix(".h2drumkit") + "*")
    if pattern == "*" or fnmatch(path, "*/" + pattern):
        return True
    # sonic-pi names etc/samples/x.flac, installed as /usr/share/sonic-pi/samples/x.flac
    return not any(c in name for c in "*?[") and Path(path).name == name


def file_licence(path: str, stanzas: list[tuple[list[str], str]]) -> str:
    """Licence of the last paragraph matching the file (Debian's rule), else "unknown"."""
    licence = "unknown"
    for patterns, name in stanzas:
        if any(_matches(path, p) for p in patterns):
            licence = name
    return licence


def package_stanzas(package: str) -> list[tuple[list[str], str]]:
    copyright = Path("/usr/share/doc") / package / "copyright"
    return copyright_stanzas(copyright.read_text(errors="replace") if copyright.exists() else "")


def licence_report(bank: Clips, packages: list[str]) -> dict[str, dict]:
    package_of = np.array([s.split("/")[0] for s in bank.source])
    report = {}
    for package in packages:
        mine = package_of == package
        copyright = Path("/usr/share/doc") / package / "copyright"
        stanzas = package_stanzas(package)
        per_file = Counter(file_licence(v, stanzas) for v in bank.voice[mine])
        report[package] = {
            "version": package_version(package),
            "licences": package_licences(package),
            "audio_licences": dict(per_file.most_common()),
            "copyright": str(copyright),
            "files": int(mine.sum()),
            "test_files": int((mine & (bank.split == "test")).sum()),
            "seconds": round(float(bank.lengths[mine].sum()) / SAMPLE_RATE, 1),
        }
    return report


def load_noise(folder) -> Clips:
    return Clips.load(folder)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--max-seconds-per-file", type=float, default=20.0)
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    files = []
    for package in PACKAGES:
        try:
            files += package_files(package)
        except (subprocess.CalledProcessError, FileNotFoundError):
            print(f"warning: {package} is not installed, skipped", file=sys.stderr)
    # files whose licence the package's copyright file does not state are not used
    stanzas = {package: package_stanzas(package) for package in PACKAGES}
    known = [(p, f) for p, f in files if file_licence(f, stanzas[p]) != "unknown"]
    bank, dropped = build_bank(known, args.max_seconds_per_file, args.test_fraction, args.seed)
    dropped["unknown licence"] = len(files) - len(known)
    bank.save(args.out_dir)
    report = licence_report(bank, list(PACKAGES))
    (args.out_dir / "licences.json").write_text(json.dumps(report, indent=2) + "\n")

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
