"""Build the multi-domain training set from training sources only (never a source the
evaluation suite reserves, see `training.sources_train`).

    python -m training.general_data OUT_DIR [--size tiny|full] [--seed 0] [--jobs 2]

Parts, in this order (each optional: a missing package is skipped with a note):
  keywords   the synthetic keyword corpus's train/valid voices (`training.corpus`), each word
             at a seeded offset in 1 s: domain speech, keyword
  klettres   real letters and syllables in 19 languages: domain speech, language
  voices     hedgewars' acted voice packs (one speaker each): domain speech; a pack is held
             out whole
  notes      fluidsynth renders of FluidR3_GM and MuseScore_General (`training.general.music`):
             domain music, pitch, instrument, velocity, harmony; drum hits add drum
  effects    mapped effects and ambiences of game and desktop packages
             (`training.general.effects`): domain environment, sound_class
  tracks     game music, cut into 1-2 s pieces: domain music
  mixtures   speech + environment, music + environment, speech + music, both parts from the
             same split, the second part at -5..+10 dB below the first (RMS): every head of
             either part except velocity (a mixture is rescaled), domain = the pair
Clips are 1-2 s; audio is streamed to disk, so memory stays near one part's worth.
"""

import argparse
import json
import os
import shutil
import sys
import time
import zlib
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training import corpus, noise
from training.data import SAMPLE_RATE, WORDS, Clips
from training.general import HEADS, GeneralData, effects, music, speech
from training.sources_train import (
    FREEFORM_LICENCE,
    available,
    check_not_reserved,
    copyright_file,
    package_version,
)

EFFECT_PACKAGES = ("wesnoth-1.16-data", "lincity-ng-data", "hedgewars-data", "supertux-data",
                   "supertuxkart-data", "openarena-data", "redeclipse-data",
                   "extremetuxracer-data", "frozen-bubble-data", "freeciv-data", "pingus-data",
                   "xmoto-data", "oxygen-sounds", "sound-theme-freedesktop")
SPLITS = ("train", "valid")
MIX_TYPES = (("speech", "environment"), ("music", "environment"), ("speech", "music"))
MIX_DB = (-5.0, 10.0)  # second part this many dB below the first
VALID_SHARE = 0.1
VOICES_PER_CALL = 32  # programs or kits rendered by one fluidsynth process


@dataclass(frozen=True)
class Size:
    corpus: corpus.Size
    words: tuple[str, ...] | None  # None: all 35
    klettres_per_language: int | None
    fonts: tuple[str, ...]
    programs: tuple[int, ...]
    kits: tuple[int, ...]
    drum_keys: tuple[int, ...] | None  # None: every GM percussion key
    events_per_program: int
    drum_velocities: int
    files_per_package: int | None  # effect and voice files per package; None: all
    tracks_per_package: int | None  # game music tracks per package (long to decode); None: all
    clips_per_effect: int  # at most, from a long effect or ambience file
    clips_per_track: int  # at most, from a game music track
    mixtures: int


SIZES = {
    "tiny": Size(corpus.Size(1, 1, 1, ("default", "m1", "steph")), ("yes", "no", "up"), 1,
                 ("FluidR3_GM",), (0, 24, 40, 73), (0, 25), (36, 38, 42, 49), 3, 1, 3, 0, 2,
                 2, 12),
    "full": Size(corpus.Size(6, 40, 40), None, None, tuple(music.FONTS), tuple(range(120)),
                 music.KITS, None, 90, 3, None, None, 16, 20, 12000),
}


class Writer:
    """Appends clips (int16 on disk) with their columns and head labels."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.raw_path = folder / "audio.raw"
        self.raw = open(self.raw_path, "wb")
        self.starts: list[int] = []
        self.lengths: list[int] = []
        self.cols: dict[str, list[str]] = {"split": [], "source": [], "voice": []}
        self.heads: dict[str, list[int]] = {h: [] for h in HEADS}
        self.total = 0
        self.files: dict[str, set[str]] = defaultdict(set)  # package -> files read

    def add(self, clip: np.ndarray, split: str, source: str, voice: str,
            labels: dict[str, str]) -> None:
        if not SAMPLE_RATE <= len(clip) <= 2 * SAMPLE_RATE:
            raise ValueError(f"clip of {len(clip)} samples: not 1-2 s")
        pcm = np.clip(np.round(clip * 32767), -32768, 32767).astype(np.int16)
        self.raw.write(pcm.tobytes())
        self.starts.append(self.total)
        self.lengths.append(len(pcm))
        self.total += len(pcm)
        for key, value in (("split", split), ("source", source), ("voice", voice)):
            self.cols[key].append(value)
        unknown = set(labels) - set(HEADS)
        if unknown:
            raise ValueError(f"unknown heads {sorted(unknown)}")
        for head, vocab in HEADS.items():
            self.heads[head].append(vocab.index(labels[head]) if head in labels else -1)

    def audio(self) -> np.ndarray:
        self.raw.flush()
        return np.memmap(self.raw_path, dtype=np.int16, mode="r", shape=(self.total,))

    def clip(self, i: int, audio: np.ndarray) -> np.ndarray:
        s = self.starts[i]
        return audio[s : s + self.lengths[i]].astype(np.float32) / 32768

    def labels(self, i: int) -> dict[str, str]:
        return {h: HEADS[h][v[i]] for h, v in self.heads.items() if v[i] >= 0}

    def finish(self) -> GeneralData:
        """audio.npy, index.npz, heads.npz, heads.json; the raw file is removed."""
        self.raw.close()
        raw = np.memmap(self.raw_path, dtype=np.int16, mode="r", shape=(self.total,))
        out = np.lib.format.open_memmap(self.folder / "audio.npy", mode="w+", dtype=np.int16,
                                        shape=(self.total,))
        step = 1 << 24
        for a in range(0, self.total, step):
            out[a : a + step] = raw[a : a + step]
        out.flush()
        del out, raw
        self.raw_path.unlink()
        heads = {h: np.asarray(v, dtype=np.int64) for h, v in self.heads.items()}
        clips = Clips(np.load(self.folder / "audio.npy", mmap_mode="r"),
                      np.asarray(self.starts, np.int64), np.asarray(self.lengths, np.int64),
                      heads["keyword"], *(np.asarray(self.cols[k], dtype=str)
                                          for k in ("split", "source", "voice")))
        clips.save(self.folder, write_audio=False)
        np.savez(self.folder / "heads.npz", **heads)
        (self.folder / "heads.json").write_text(
            json.dumps({h: list(v) for h, v in HEADS.items()}, indent=1) + "\n")
        return GeneralData(clips, heads, dict(HEADS))


def _rng(seed: int, *keys: str) -> np.random.Generator:
    return np.random.default_rng([seed, *(zlib.crc32(k.encode()) for k in keys)])


def _limit(items: list, n: int | None) -> list:
    return items if n is None else items[:n]


# ------------------------------------------------------------------ parts


def add_keywords(w: Writer, size: Size, seed: int, jobs: int, notes: list[str]) -> None:
    words = list(size.words or WORDS)
    clips, dropped, more = speech.keyword_corpus(size.corpus, words, seed, jobs)
    notes += more
    if dropped:
        notes.append(f"keyword corpus dropped {sum(dropped.values())} words")
    for i in range(len(clips)):
        r = _rng(seed, "keyword", str(i))
        w.add(speech.speech_clip(clips.clip(i), r), str(clips.split[i]), str(clips.source[i]),
              str(clips.voice[i]), {"domain": "speech", "keyword": WORDS[int(clips.labels[i])]})
        w.files[str(clips.source[i])].add(str(clips.voice[i]))


def add_klettres(w: Writer, size: Size, seed: int, notes: list[str]) -> None:
    if not available("klettres-data"):
        notes.append("klettres-data not installed: no real speech")
        return
    files = speech.klettres_files(size.klettres_per_language)
    for clip, lang, path in speech.klettres_clips(files, seed):
        w.add(clip, speech.split_of(path, seed), "klettres-data", path,
              {"domain": "speech", "language": lang})
        w.files["klettres-data"].add(path)


def add_files(w: Writer, sounds: list[effects.Sound], size: Size, seed: int,
              notes: list[str]) -> None:
    """Effects, game music and acted voices (catalogue entries) as 1-2 s clips. Files whose
    licence the package's copyright file does not state are not used."""
    per_package: Counter = Counter()
    stanzas = {p: noise.package_stanzas(p) for p in sorted({s.package for s in sounds})}
    unknown = [s for s in sounds if noise.licence_of(s.package, s.path, stanzas[s.package])
               == "unknown"]
    if unknown:
        notes.append(f"{len(unknown)} files of unknown licence not used: "
                     + ", ".join(sorted(Path(s.path).name for s in unknown)))
    for s in sounds:
        if s in unknown:
            continue
        per_package[(s.package, s.kind)] += 1
        limit = size.tracks_per_package if s.kind == "music" else size.files_per_package
        if limit is not None and per_package[(s.package, s.kind)] > limit:
            continue
        audio = effects.trimmed(s.path)
        if audio is None:
            continue
        r = _rng(seed, "file", s.path)
        if s.kind == "voice":
            pieces = [speech.speech_clip(audio, r)]
            share = 0.15  # 15 packs: about two are valid
        else:
            per_file = size.clips_per_effect if s.kind == "effect" else size.clips_per_track
            pieces = effects.cut(audio, per_file, r)
            share = VALID_SHARE
        split = speech.split_of(s.group, seed, share)
        labels = ({"domain": "environment", "sound_class": s.label} if s.kind == "effect"
                  else {"domain": "music" if s.kind == "music" else "speech"})
        for piece in pieces:
            w.add(piece, split, s.package, s.group, labels)
        if pieces:
            w.files[s.package].add(s.path)


def add_music(w: Writer, size: Size, seed: int, jobs: int, notes: list[str]) -> None:
    if shutil.which("fluidsynth") is None:
        notes.append("fluidsynth not installed: no rendered music")
        return
    for font in size.fonts:
        package, path = music.FONTS[font]
        check_not_reserved([package, path])
        if not Path(path).is_file():
            notes.append(f"{font} ({package}) not installed: skipped")
            continue
        events = music.plan(font, size.programs, size.kits, size.events_per_program,
                            size.drum_velocities, seed, size.drum_keys)
        held = music.valid_voices(font, size.programs, size.kits, seed)
        # one fluidsynth process per VOICES_PER_CALL voices (loading MuseScore_General takes
        # ~25 s, FluidR3_GM ~0.6 s), `jobs` at a time, consumed in order
        voices = list(dict.fromkeys(e.voice for e in events))
        groups = [set(voices[k : k + VOICES_PER_CALL])
                  for k in range(0, len(voices), VOICES_PER_CALL)]
        batches = [[e for e in events if e.voice in g] for g in groups]
        silent = 0
        with ThreadPoolExecutor(jobs) as pool:
            rendered = pool.map(music.render, [path] * len(batches), batches)
            for batch, clips in zip(batches, rendered):
                for e, clip in zip(batch, music.normalise(batch, clips)):
                    if clip is None:
                        silent += 1
                        continue
                    w.add(clip, "valid" if e.voice in held else "train", package, e.voice,
                          {"domain": "music", **e.labels})
        w.files[package].add(path)
        if silent:
            notes.append(f"{font}: {silent} silent renders dropped")


def add_mixtures(w: Writer, count: int, seed: int) -> None:
    """`count` mixtures of two clips of different domains from the same split."""
    domain = np.asarray(w.heads["domain"])
    split = np.asarray(w.cols["split"])
    pools = {(d, s): np.flatnonzero((domain == HEADS["domain"].index(d)) & (split == s))
             for d in ("speech", "music", "environment") for s in SPLITS}
    audio = w.audio()
    r = _rng(seed, "mixtures")
    for _ in range(count):
        s = "valid" if r.random() < VALID_SHARE else "train"
        first, second = MIX_TYPES[int(r.integers(len(MIX_TYPES)))]
        if not len(pools[(first, s)]) or not len(pools[(second, s)]):
            continue
        i, j = int(r.choice(pools[(first, s)])), int(r.choice(pools[(second, s)]))
        a, b = w.clip(i, audio), w.clip(j, audio)
        if len(b) < len(a):
            b = np.pad(b, (0, len(a) - len(b)))
        start = int(r.integers(0, len(b) - len(a) + 1))
        b = b[start : start + len(a)]
        rms_a, rms_b = (float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) for x in (a, b))
        gain = rms_a / max(rms_b, 1e-9) * 10 ** (-r.uniform(*MIX_DB) / 20)
        mix = a + gain * b
        mix *= 0.9 / max(float(np.abs(mix).max()), 1e-9)
        labels = {**w.labels(j), **w.labels(i)}
        labels.pop("velocity", None)
        labels["domain"] = f"{first}+{second}"
        w.add(mix.astype(np.float32), s, "mixture", f"{w.cols['voice'][i]}|{w.cols['voice'][j]}",
              labels)


# ------------------------------------------------------------------ licences and summary


def licences(w: Writer, data: GeneralData) -> dict[str, dict]:
    """Per source package (or speech engine): version, licences named by its copyright file,
    the licence of each file used (heuristic match, see training.noise.file_licence), and
    clips and seconds."""
    report = {}
    for package in sorted(set(data.clips.source) - {"mixture"}):
        mine = data.clips.source == package
        copyright = copyright_file(package)
        text = copyright.read_text(errors="replace") if copyright.exists() else ""
        stanzas = noise.copyright_stanzas(text)
        per_file = Counter(noise.licence_of(package, f, stanzas) for f in sorted(w.files[package]))
        report[package] = {
            "version": package_version(package),
            "licences": sorted(set(noise.licence_names(text))) or
            ([FREEFORM_LICENCE[package]] if package in FREEFORM_LICENCE else []),
            "files_licences": dict(per_file.most_common()),
            "copyright": str(copyright),
            "clips": int(mine.sum()),
            "valid_clips": int((mine & (data.clips.split == "valid")).sum()),
            "seconds": round(float(data.clips.lengths[mine].sum()) / SAMPLE_RATE, 1),
        }
    mixed = data.clips.source == "mixture"
    report["mixture"] = {"clips": int(mixed.sum()), "licences": ["those of its two parts"],
                         "seconds": round(float(data.clips.lengths[mixed].sum()) / SAMPLE_RATE, 1)}
    return report


def summary(data: GeneralData, seconds: float, notes: list[str]) -> dict:
    c = data.clips
    per_source = {s: {sp: int(((c.source == s) & (c.split == sp)).sum()) for sp in SPLITS}
                  for s in sorted(set(c.source))}
    per_head = {h: {"clips": int((v >= 0).sum()),
                    "classes_seen": len(set(v[v >= 0].tolist())),
                    "classes": len(data.vocab[h])} for h, v in data.heads.items()}
    return {"clips": len(c), "hours": round(float(c.lengths.sum()) / SAMPLE_RATE / 3600, 2),
            "bytes": int(c.lengths.sum()) * 2, "per_source": per_source, "per_head": per_head,
            "build_seconds": round(seconds, 1), "notes": notes}


def build(out_dir: Path, size: str = "tiny", seed: int = 0, jobs: int | None = None,
          mixtures: int | None = None) -> GeneralData:
    """The whole set into `out_dir` (created); returns it loaded."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}: {sorted(SIZES)}")
    spec, jobs = SIZES[size], max(1, jobs or min(2, os.cpu_count() or 1))
    start, notes = time.time(), []
    w = Writer(Path(out_dir))
    add_keywords(w, spec, seed, jobs, notes)
    add_klettres(w, spec, seed, notes)
    missing = [p for p in EFFECT_PACKAGES if not available(p)]
    notes += [f"{p} not available: skipped" for p in missing]
    sounds = effects.catalogue([p for p in EFFECT_PACKAGES if p not in missing])
    add_files(w, [s for s in sounds if s.kind == "voice"], spec, seed, notes)
    add_music(w, spec, seed, jobs, notes)
    add_files(w, [s for s in sounds if s.kind == "effect"], spec, seed, notes)
    add_files(w, [s for s in sounds if s.kind == "music"], spec, seed, notes)
    if w.total == 0:
        w.raw.close()
        raise ValueError("no clips: no training source is installed "
                         "(bash tools/install_training_deps.sh)")
    add_mixtures(w, spec.mixtures if mixtures is None else mixtures, seed)
    data = w.finish()
    (Path(out_dir) / "licences.json").write_text(json.dumps(licences(w, data), indent=1) + "\n")
    report = summary(data, time.time() - start, notes)
    (Path(out_dir) / "summary.json").write_text(json.dumps(report, indent=1) + "\n")
    return data


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=None, help="processes (default: 2)")
    args = parser.parse_args(argv)
    try:
        build(args.out_dir, args.size, args.seed, args.jobs)
    except ValueError as err:
        sys.exit(str(err))
    report = json.loads((args.out_dir / "summary.json").read_text())
    print(f"{'source':28s}{'train':>8s}{'valid':>8s}")
    for source, counts in report["per_source"].items():
        print(f"{source:28s}{counts['train']:8d}{counts['valid']:8d}")
    for head, h in report["per_head"].items():
        print(f"head {head:12s} {h['clips']:7d} clips, {h['classes_seen']}/{h['classes']} classes")
    print(f"{report['clips']} clips, {report['hours']} h, {report['bytes'] / 1e9:.2f} GB, "
          f"built in {report['build_seconds']:.0f} s; notes: {report['notes']}")


if __name__ == "__main__":
    main()
