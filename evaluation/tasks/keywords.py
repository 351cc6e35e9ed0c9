"""`keywords`: Speech Commands V2-12 style keyword spotting with synthetic voices never used
in training.

Labels: yes no up down left right on off stop go, `_unknown_` (the other 25 of the 35
Speech Commands words) and `_silence_` (background only).

Voices: only the presets of `training.corpus` whose split is "test" (espeak-ng variants of
ESPEAK_TEST, flite slt, festival's slt HTS voice), each synthesised with settings drawn from
this task's seed. Those voices are split again into task train / valid / test by speaker:
variants sharing a formant table are one speaker (f2 f5 whisperf; belinda linda; Gene Gene2;
Andy AnxiousAndy), as are flite slt and festival slt (the same CMU Arctic speaker); test /
valid hold as close to 25 / 15 % of the presets as 200 seeded draws get
(common.split_groups).

Clips: 1 s at 16 kHz (the corpus' rate). Per preset: the 10 words, UNKNOWN_PER_PRESET
random other words, and one `_silence_` clip. A word is placed at a random offset with a
gain of -12..0 dB; 80 % of word clips get background (a sonic-pi ambience window or white /
pink / brown noise) at 10..30 dB SNR. Silence clips: background at -55..-25 dBFS RMS.

Sizes: tiny = 4 espeak-ng variants (f2 m3 david Gene) x 1 setting + flite slt + festival
slt; full = the 11 test variants x 10 settings + 10 each for flite slt and festival slt.
"""

import os
import shutil
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from evaluation.tasks import common
from hear_mixers.audio_io import read_audio
from training import corpus
from training.data import SAMPLE_RATE, WORDS

SOURCES = ("held-out-voices", "espeak-ng", "flite", "festival", "sonic-pi-samples")  # evaluation.sources names
TARGETS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
UNKNOWN, SILENCE = "_unknown_", "_silence_"
OTHERS = tuple(w for w in WORDS if w not in TARGETS)
SIZES = {"tiny": corpus.Size(1, 2, 2, ("f2", "m3", "david", "Gene")),
         "full": corpus.Size(10, 20, 20)}
UNKNOWN_PER_PRESET = {"tiny": 1, "full": 2}
# espeak-ng test variants that share a formant table with another: one speaker
SAME_SPEAKER = {"f5": "f2", "whisperf": "f2", "linda": "belinda", "Gene2": "Gene",
                "AnxiousAndy": "Andy"}
CLIP_S = 1.0
NOISY_SHARE = 0.8  # of word clips, with background


def available() -> bool:
    return all(shutil.which(e) for e in corpus.ENGINES)


def speaker(preset: corpus.Preset) -> str:
    """Who speaks: the espeak-ng variant (merged with variants sharing its formants), or
    the flite / festival speaker ("slt" for both engines' slt voices)."""
    if preset.engine == "espeak-ng":
        variant = preset.model.split("+")[1] if "+" in preset.model else "default"
        return "espeak-ng:" + SAME_SPEAKER.get(variant, variant)
    return "slt" if "slt" in preset.voice else preset.voice


def synthesise(presets: list[corpus.Preset], words: list[list[str]]) -> list[tuple[list, int]]:
    """Per preset: ([(word, (n,) float32 audio at 16 kHz)], dropped count). One preset per
    call of corpus.run_unit; a thread per core (at least 2) waits on the engines' processes."""
    def one(k: int) -> tuple[list, int]:
        clips, dropped = corpus.run_unit([presets[k]], words[k])
        return [(WORDS[clips.labels[i]], clips.clip(i)) for i in range(len(clips))], \
            sum(dropped.values())

    with ThreadPoolExecutor(max(2, os.cpu_count() or 1)) as pool:
        return list(pool.map(one, range(len(presets))))


def build(out_dir: Path, size: str, seed: int, sample_rates: list[int]) -> Path:
    if not available():
        raise RuntimeError(f"speech engines missing ({corpus.ENGINES}): "
                           "tools/install_training_deps.sh speech")
    presets, notes = corpus.build_presets(SIZES[size], seed)
    presets = [p for p in presets if p.split == "test"]  # voices never heard in training
    weights = Counter(speaker(p) for p in presets)  # group -> clips
    split_of = common.split_groups(weights, common.rng(seed, "keywords", "split"))
    words = []  # per preset: the targets and a few other words (-> _unknown_)
    for k in range(len(presets)):
        r = common.rng(seed, "keywords", "words", str(k))
        others = r.choice(OTHERS, UNKNOWN_PER_PRESET[size], replace=False)
        words.append(list(TARGETS) + [str(w) for w in others])
    spoken = synthesise(presets, words)
    bank = common.ambience(lambda path: read_audio(Path(path), SAMPLE_RATE), SAMPLE_RATE)

    info = common.TaskInfo(
        name="keywords", embedding_type="scene", prediction_type="multiclass",
        split_mode="trainvaltest", splits=("train", "valid", "test"),
        labels=TARGETS + (UNKNOWN, SILENCE), evaluation=("top1_acc",),
        sample_duration=CLIP_S, source_rate=SAMPLE_RATE,
        extra={"source": "training.corpus presets of the held-out test split only "
                         "(espeak-ng, flite, festival), split again by speaker",
               "speakers": {s: sorted(g for g, x in split_of.items() if x == s)
                            for s in ("train", "valid", "test")},
               "notes": notes})
    writer = common.TaskWriter(out_dir, info, size, sample_rates)
    n = round(CLIP_S * SAMPLE_RATE)
    dropped = 0
    for k, (p, (clips, lost)) in enumerate(zip(presets, spoken)):
        dropped += lost
        split = split_of[speaker(p)]
        who = {"engine": p.engine, "voice": p.voice, "speaker": speaker(p),
               "corpus_split": p.split, "model": p.model, "stretch": p.stretch,
               "pitch": p.pitch}
        r = common.rng(seed, "keywords", "mix", str(k))
        for word, audio in clips:
            clip = np.zeros(n, np.float32)
            audio = audio * common.db(r.uniform(-12, 0))
            common.place(clip, audio, int(r.integers(0, n - len(audio) + 1)))
            source = {**who, "word": word}
            if r.random() < NOISY_SHARE:  # SNR re the word's RMS
                back, source["background"] = common.background(n, bank, r)
                source["snr_db"] = round(float(r.uniform(10, 30)), 1)
                clip += back * common.rms(audio) * common.db(-source["snr_db"])
            writer.add(split, clip, [word if word in TARGETS else UNKNOWN], source)
        back, name = common.background(n, bank, r)  # one silence clip per preset
        writer.add(split, back * common.db(r.uniform(-55, -25)), [SILENCE],
                   {"background": name, "split_with": speaker(p)})
    return writer.finish(words_dropped=dropped)
