"""Speech clips: the synthetic keyword corpus's train and valid voices (never its test
voices, which the evaluation suite holds out) and klettres-data's real recordings of letters
and syllables, labelled with their language.

klettres-data: `/usr/share/klettres/<language>/{alpha,syllab}/<name>.ogg`; en and en_GB are
both "en" (an accent, not a language), pt_BR is "pt". The paths name no speaker, so a file is
its own recording id; a seeded 10 % of each language's files is "valid".
"""

import re
import zlib
from pathlib import Path

import numpy as np

from training import corpus
from training.general.effects import trimmed
from training.sources_train import is_reserved_voice, package_files

SAMPLE_RATE = 16000
LANGUAGES = ("ar", "cs", "da", "de", "en", "es", "fr", "he", "hu", "it", "lt", "ml", "nb",
             "nds", "nl", "pt", "ru", "tn", "uk")
_MERGE = {"en_gb": "en", "pt_br": "pt"}
VALID_SHARE = 0.1


def keyword_corpus(size: corpus.Size, words: list[str], seed: int, jobs: int):
    """Keyword Clips of the corpus's train and valid voices only (its test voices belong to
    the evaluation suite and are never synthesised here)."""
    clips, dropped, notes = corpus.generate(words, size, seed=seed, jobs=jobs, progress=False,
                                            splits=("train", "valid"))
    reserved = sorted({v for v in set(clips.voice.tolist()) if is_reserved_voice(v)})
    if reserved:  # the corpus's splits and the suite's table disagree
        raise ValueError(f"voices reserved for evaluation in the train/valid splits: {reserved}")
    return clips, dropped, notes


def language(path: str) -> str | None:
    found = re.search(r"/klettres/([^/]+)/(alpha|syllab)/", path)
    if not found:
        return None
    name = _MERGE.get(found.group(1).lower(), found.group(1).lower())
    return name if name in LANGUAGES else None


def klettres_files(limit_per_language: int | None = None) -> list[tuple[str, str]]:
    """(path, language) of klettres-data's recordings, sorted; at most `limit_per_language`
    of each (the first ones in path order)."""
    out, seen = [], {}
    for path in package_files("klettres-data"):
        lang = language(path)
        if lang is None:
            continue
        seen[lang] = seen.get(lang, 0) + 1
        if limit_per_language is None or seen[lang] <= limit_per_language:
            out.append((path, lang))
    return out


def split_of(key: str, seed: int, share: float = VALID_SHARE) -> str:
    """A seeded, stable "train"/"valid" draw per recording id."""
    r = np.random.default_rng([seed, zlib.crc32(key.encode())])
    return "valid" if r.random() < share else "train"


def speech_clip(audio: np.ndarray, r: np.random.Generator) -> np.ndarray:
    """A word or syllable placed at a random offset in 1 s (or cut to 2 s), peak 0.9."""
    audio = audio[: 2 * SAMPLE_RATE]
    n = max(SAMPLE_RATE, len(audio))
    clip = np.zeros(n, np.float32)
    start = int(r.integers(0, n - len(audio) + 1))
    clip[start : start + len(audio)] = audio
    return clip * (0.9 / max(float(np.abs(clip).max()), 1e-9))


def klettres_clips(files: list[tuple[str, str]], seed: int):
    """(clip, language, path) for every readable, non-silent file."""
    out = []
    for path, lang in files:
        audio = trimmed(path)
        if audio is None:
            continue
        r = np.random.default_rng([seed, zlib.crc32(Path(path).as_posix().encode())])
        out.append((speech_clip(audio, r), lang, path))
    return out
