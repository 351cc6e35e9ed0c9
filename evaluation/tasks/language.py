"""`language`: spoken language identification from real human recordings: which language a
spoken word is in.

Source: the Debian package ktuberling-data (KDE's "potato guy" game, GPL-2+): one folder
per language of words spoken by volunteers ("ball", "hat", "egypt_camel", ...). The
languages with at least MIN_FILES distinct recordings are used (13 with ktuberling-data
22.12: ca da de el en fr gl lt nn ru sl uk wa); exact duplicate files (fr and uk hold some
twice under two names) count once. klettres-data is left to training and not used.

Speakers: the package names no speaker; each language folder seems to be one volunteer's
recordings, so language and speaker (and microphone) coincide and a probe may partly
learn the voice. To take the cheapest channel cues away, every recording (8 to 44.1 kHz
in the package) is band-limited to 4 kHz (resampled to 8 kHz and back), set to a random
RMS level (-30..-18 dBFS), placed at a random offset in a 2 s clip and mixed with white or
pink noise 20..35 dB below the word's RMS. Chance: 1 / 13.

Folds: 5, by word: all languages' recordings of one word (the game's sound name, e.g.
"ball") are in one fold, so no recording, and no word, is in two folds (groups balanced by
clips). Sizes: full = up to FULL_PER_LANGUAGE recordings per language (seeded choice),
tiny = TINY_PER_LANGUAGE.
"""

import hashlib
import re
from collections import Counter
from pathlib import Path

import numpy as np
import soxr

from evaluation.tasks import common
from hear_mixers.audio_io import read_audio

PACKAGE = "ktuberling-data"
SOURCES = ("ktuberling-data",)  # evaluation.sources names
ROOT = Path("/usr/share/ktuberling/sounds")
RATE = 16000  # clip rate; the speech is band-limited to BAND_RATE / 2 anyway
BAND_RATE = 8000
CLIP_S = 2.0
MIN_FILES = 60  # distinct recordings a language needs to be used
FULL_PER_LANGUAGE, TINY_PER_LANGUAGE = 70, 5
FOLDS = [f"fold{i:02d}" for i in range(5)]
AUDIO = (".ogg", ".wav", ".flac", ".opus")


def sound_names(root: Path = ROOT) -> dict[str, str]:
    """"lang/file" -> the game's sound name, from the <lang>.soundtheme files."""
    names = {}
    for theme in sorted(root.glob("*.soundtheme")):
        for name, file in re.findall(r'<sound\s+name="([^"]+)"\s+file="([^"]+)"',
                                     theme.read_text(errors="replace")):
            names[file] = name
    return names


def word_of(path: Path, names: dict[str, str]) -> str:
    """The word a recording speaks: its sound name, else its file name without a prefix."""
    key = f"{path.parent.name}/{path.name}"
    return names.get(key, path.stem.lower())


def recordings(root: Path = ROOT) -> dict[str, list[Path]]:
    """Language -> its distinct recordings (exact duplicates dropped), sorted; only languages
    with at least MIN_FILES; {} when the package is not installed."""
    found = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        seen, files = set(), []
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() not in AUDIO:
                continue
            digest = hashlib.sha1(path.read_bytes()).hexdigest()
            if digest not in seen:
                seen.add(digest)
                files.append(path)
        if len(files) >= MIN_FILES:
            found[folder.name] = files
    return found


def band_limit(audio: np.ndarray) -> np.ndarray:
    """(n,) at RATE -> (n,) at RATE holding nothing above BAND_RATE / 2."""
    back = soxr.resample(soxr.resample(audio, RATE, BAND_RATE), BAND_RATE, RATE)
    return np.pad(back[: len(audio)], (0, max(0, len(audio) - len(back)))).astype(np.float32)


def build(out_dir: Path, size: str, seed: int, sample_rates: list[int]) -> Path:
    found = recordings()
    if not found:
        raise RuntimeError(f"no recordings: install {PACKAGE} (tools/install_eval_deps.sh)")
    languages = tuple(sorted(found))
    per_language = FULL_PER_LANGUAGE if size == "full" else TINY_PER_LANGUAGE
    names = sound_names()
    chosen = []  # (language, path, word)
    for language in languages:
        r = common.rng(seed, "language", "choose", language)
        files = found[language]
        picks = sorted(r.choice(len(files), min(per_language, len(files)), replace=False))
        chosen += [(language, files[i], word_of(files[i], names)) for i in picks]
    weights = Counter(word for _, _, word in chosen)  # group -> clips
    fold_of = common.fold_groups(weights, FOLDS, common.rng(seed, "language", "folds"))

    info = common.TaskInfo(
        name="language", embedding_type="scene", prediction_type="multiclass",
        split_mode="new_split_kfold", splits=tuple(FOLDS), labels=languages,
        evaluation=("top1_acc",), sample_duration=CLIP_S, source_rate=RATE,
        extra={"source": f"Debian {PACKAGE} {common.package_version(PACKAGE)}: one spoken word "
                         "per clip, band-limited to 4 kHz, in noise; folds by word",
               "licence": "GPL-2+"})
    writer = common.TaskWriter(out_dir, info, size, sample_rates)
    n = round(CLIP_S * RATE)
    for k, (language, path, word) in enumerate(chosen):
        r = common.rng(seed, "language", "mix", str(k))
        speech = band_limit(read_audio(path, RATE)[:n])
        speech = speech / max(common.rms(speech), 1e-9) * common.db(r.uniform(-30, -18))
        clip = np.zeros(n, np.float32)
        common.place(clip, speech, int(r.integers(0, n - len(speech) + 1)))
        snr = round(float(r.uniform(20, 35)), 1)
        exponent = float(r.choice([0.0, 1.0]))
        clip += common.coloured_noise(n, exponent, r) * common.rms(speech) * common.db(-snr)
        writer.add(fold_of[word], clip, [language],
                   {"package": PACKAGE, "file": str(path), "word": word, "snr_db": snr,
                    "noise": f"1/f^{exponent:.0f}", "licence": "GPL-2+"})
    return writer.finish()
