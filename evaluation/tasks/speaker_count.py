"""`speaker_count`: how many people speak at once (1 to 4), a scene task on synthetic speech
from voices held out of training.

Voices: the held-out (test split) presets of `training.corpus`, as in `keywords` (espeak-ng
test variants, flite slt, festival's slt HTS voice), with the same sizes: tiny = 4 espeak-ng
variants x 1 setting + flite slt + festival slt (5 speakers), full = the 11 test variants x
10 settings + 10 each for flite and festival slt (7 speakers: variants sharing a formant
table, and the two slt voices, are one speaker, see `keywords.speaker`).

Clip: 3 s at 16 kHz. K voices (label "K", K uniform in 1..4), each a different speaker and a
random setting of it, each saying 2 to 4 random words in a row (gaps of 50..250 ms),
starting at 0..0.6 s, at -6..0 dB re the others (each word at the same RMS first), over
a sonic-pi ambience window or coloured noise 25..40 dB below the speech. Speech is cut at
the clip's end.

Split: by word: the 35 Speech Commands words are dealt, seeded, into train (21), valid (7)
and test (7), so no synthesised word is in two splits. The speakers are the same in every
split (with at most 7 speakers, disjoint speakers could not fill 4-voice clips); no speaker
is ever heard in training (evaluation/sources.py). Counts: full 600 / 150 / 150, tiny 16 /
8 / 8, K balanced in each split. Chance: 0.25.
"""

from pathlib import Path

import numpy as np

from evaluation.tasks import common, keywords
from hear_mixers.audio_io import read_audio
from training import corpus
from training.data import SAMPLE_RATE, WORDS

SOURCES = ("held-out-voices", "espeak-ng", "flite", "festival", "sonic-pi-samples")
RATE = SAMPLE_RATE
CLIP_S = 3.0
COUNTS = {"full": {"train": 600, "valid": 150, "test": 150},
          "tiny": {"train": 16, "valid": 8, "test": 8}}
WORDS_PER_SPLIT = {"train": 21, "valid": 7, "test": 7}
LABELS = ("1", "2", "3", "4")
WORDS_PER_VOICE = (2, 4)


def available() -> bool:
    return keywords.available()


def split_words(seed: int) -> dict[str, str]:
    """Speech Commands word -> split."""
    order = [WORDS[i] for i in common.rng(seed, "speaker_count", "words").permutation(len(WORDS))]
    split_of, start = {}, 0
    for split, count in WORDS_PER_SPLIT.items():
        split_of.update({w: split for w in order[start : start + count]})
        start += count
    return split_of


def utterance(pool: list[np.ndarray], r: np.random.Generator) -> np.ndarray:
    """2..4 words of one voice setting in a row, each at unit RMS, 50..250 ms apart."""
    parts = []
    for i in range(int(r.integers(WORDS_PER_VOICE[0], WORDS_PER_VOICE[1] + 1))):
        word = pool[int(r.integers(len(pool)))]
        if i:
            parts.append(np.zeros(int(r.uniform(0.05, 0.25) * RATE), np.float32))
        parts.append(word / max(common.rms(word), 1e-9))
    return np.concatenate(parts).astype(np.float32)


def build(out_dir: Path, size: str, seed: int, sample_rates: list[int]) -> Path:
    if not available():
        raise RuntimeError(f"speech engines missing ({corpus.ENGINES}): "
                           "tools/install_training_deps.sh speech")
    presets, notes = corpus.build_presets(keywords.SIZES[size], seed)
    presets = [p for p in presets if p.split == "test"]  # voices never heard in training
    speakers = sorted({keywords.speaker(p) for p in presets})
    if len(speakers) < len(LABELS):
        raise RuntimeError(f"{len(speakers)} held-out speakers, {len(LABELS)} needed: {notes}")
    word_split = split_words(seed)
    spoken = keywords.synthesise(presets, [list(WORDS)] * len(presets))
    # pools[split][speaker] = [(preset index, [word audio, ...]), ...]
    pools: dict[str, dict[str, list]] = {s: {} for s in COUNTS[size]}
    dropped = 0
    for k, (p, (clips, lost)) in enumerate(zip(presets, spoken)):
        dropped += lost
        for split, pool in pools.items():
            words = [audio for word, audio in clips if word_split[word] == split]
            if words:
                pool.setdefault(keywords.speaker(p), []).append((k, words))
    bank = common.ambience(lambda path: read_audio(Path(path), RATE), RATE)

    info = common.TaskInfo(
        name="speaker_count", embedding_type="scene", prediction_type="multiclass",
        split_mode="trainvaltest", splits=("train", "valid", "test"), labels=LABELS,
        evaluation=("top1_acc",), sample_duration=CLIP_S, source_rate=RATE,
        extra={"source": "training.corpus presets of the held-out test split only "
                         "(espeak-ng, flite, festival), 1-4 at once; split by word",
               "words": {s: sorted(w for w, x in word_split.items() if x == s)
                         for s in ("train", "valid", "test")},
               "speakers": speakers, "notes": notes})
    writer = common.TaskWriter(out_dir, info, size, sample_rates)
    n = round(CLIP_S * RATE)
    for split, count in COUNTS[size].items():
        r = common.rng(seed, "speaker_count", split)
        names = sorted(pools[split])
        for i in range(count):
            voices = i % len(LABELS) + 1  # balanced 1..4
            who = [names[j] for j in r.permutation(len(names))[:voices]]
            clip = np.zeros(n, np.float32)
            parts = []
            for name in who:
                k, pool = pools[split][name][int(r.integers(len(pools[split][name])))]
                speech = utterance(pool, r) * common.db(r.uniform(-6, 0))
                common.place(clip, speech, int(r.uniform(0, 0.6) * RATE))
                parts.append({"speaker": name, "preset": presets[k].model,
                              "engine": presets[k].engine, "voice": presets[k].voice})
            back, back_name = common.background(n, bank, r)
            snr = round(float(r.uniform(25, 40)), 1)
            clip += back * common.rms(clip) * common.db(-snr)
            clip *= common.db(r.uniform(-20, -6)) / max(float(np.abs(clip).max()), 1e-9)
            writer.add(split, clip, [str(voices)],
                       {"voices": parts, "background": back_name, "snr_db": snr})
    return writer.finish(words_dropped=dropped)
