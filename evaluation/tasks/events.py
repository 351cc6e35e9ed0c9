"""`events`: sound-event detection. Real recorded drum hits (kick, snare, hihat, tom,
cymbal from hydrogen-drumkits, see `drums`) at random known onsets over real ambience.

Clip: 5 s at 48 kHz. Background: half the clips a random window of a sonic-pi-samples
ambience recording (ambi_*, vinyl_* of >= 2 s, looped when shorter), half white, pink or
brown noise, at -45..-30 dBFS RMS. Events: 2..5 per clip, class uniform, hit uniform among
the split's files of that class, peak -12..-2 dBFS, onset uniform in 0.05..4.7 s, never
overlapping an event of the same class (different classes may overlap). Hits longer than
2 s are cut with a 50 ms fade. Label: {"label", "start", "end"} in ms, end = where the hit
falls for good below -30 dB of its peak (cut at the clip's end).

Split: by kit group (author, as in `drums`), every split with every class, test / valid
as close to 25 / 15 % of the hit files as 200 seeded draws get (common.split_groups).
Counts: full 600 / 150 / 150, tiny 16 / 8 / 8 (from the first 2 files of each group and
class).
"""

from collections import Counter
from pathlib import Path

import numpy as np

from evaluation.tasks import common, drums
from hear_mixers.audio_io import read_audio

RATE = drums.RATE
SOURCES = ("hydrogen-drumkits", "sonic-pi-samples")  # evaluation.sources names
CLASSES = ("kick", "snare", "hihat", "tom", "cymbal")
CLIP_S = 5.0
COUNTS = {"full": {"train": 600, "valid": 150, "test": 150},
          "tiny": {"train": 16, "valid": 8, "test": 8}}
EVENTS_PER_CLIP = (2, 5)
MAX_HIT_S = 2.0
END_DB = -30.0  # an event ends where its hit falls for good below this (re its peak)
TINY_FILES = 2  # at tiny size, the first files of each (group, class)


def event_length(hit: np.ndarray) -> int:
    """Samples from the hit's start to its last sample above END_DB re its peak."""
    loud = np.flatnonzero(np.abs(hit) >= np.abs(hit).max() * common.db(END_DB))
    return int(loud[-1]) + 1


def ms(samples: int) -> float:
    return round(samples * 1000 / RATE, 3)


def split_hits(hits: list[drums.Hit], seed: int) -> dict[str, str]:
    """Kit group -> split, by files (kits differ a lot in size), every split with every
    class."""
    weights = Counter(h.group for h in hits)  # group -> clips

    def every_class(split_of: dict[str, str]) -> bool:
        covered = {(split_of[h.group], h.label) for h in hits}
        return all((s, c) in covered for s in COUNTS["full"] for c in CLASSES)

    return common.split_groups(weights, common.rng(seed, "events", "split"), accept=every_class)


def build(out_dir: Path, size: str, seed: int, sample_rates: list[int]) -> Path:
    hits = [h for h in drums.list_hits() if h.label in CLASSES]
    if not hits:
        raise RuntimeError(f"no drum samples: install {drums.PACKAGE} (tools/install_eval_deps.sh)")
    if size == "tiny":
        hits = drums.first_files(hits, TINY_FILES)
    audio = {h.path: drums.load_hit(h, MAX_HIT_S) for h in hits}
    hits = [h for h in hits if audio[h.path] is not None]  # silent placeholders out
    split_of = split_hits(hits, seed)
    bank = common.ambience(lambda path: read_audio(Path(path), RATE), RATE)

    info = common.TaskInfo(
        name="events", embedding_type="event", prediction_type="multilabel",
        split_mode="trainvaltest", splits=("train", "valid", "test"), labels=CLASSES,
        evaluation=("event_onset_200ms_fms", "segment_1s_er"), sample_duration=CLIP_S,
        source_rate=RATE,
        extra={# heareval validates its own event task (dcase2016_task2) only every 10
               # epochs because sed_eval's scoring is slow; it reads the same setting here
               "evaluation_params": {"task_specific_param_grid": {
                   "check_val_every_n_epoch": [10]}},
               "source": f"Debian {drums.PACKAGE} {common.package_version(drums.PACKAGE)} hits "
                         "over sonic-pi-samples ambience or coloured noise; split by kit group",
               "kit_groups": {s: sorted(g for g, x in split_of.items() if x == s)
                              for s in ("train", "valid", "test")}})
    writer = common.TaskWriter(out_dir, info, size, sample_rates)
    n = round(CLIP_S * RATE)
    for split, count in COUNTS[size].items():
        pools = {c: [h for h in hits if split_of[h.group] == split and h.label == c]
                 for c in CLASSES}
        r = common.rng(seed, "events", split)
        for _ in range(count):
            back, back_name = common.background(n, bank, r)
            clip = back * common.db(r.uniform(-45, -30))
            events: list[tuple[int, int, str, drums.Hit]] = []  # start, end (samples), ...
            for _ in range(int(r.integers(EVENTS_PER_CLIP[0], EVENTS_PER_CLIP[1] + 1))):
                label = str(r.choice(CLASSES))
                hit = pools[label][int(r.integers(len(pools[label])))]
                start = int(r.integers(round(0.05 * RATE), n - round(0.3 * RATE)))
                end = min(start + event_length(audio[hit.path]), n)
                if any(x == label and start < e and b < end for b, e, x, _ in events):
                    continue  # overlaps an event of its class: skipped
                common.place(clip, audio[hit.path] * common.db(r.uniform(-12, -2)), start)
                events.append((start, end, label, hit))
            events.sort(key=lambda x: x[:3])
            labels = [{"label": x, "start": ms(b), "end": ms(e)} for b, e, x, _ in events]
            writer.add(split, clip, labels, {"background": back_name,
                                             "hits": [drums.source_of(h) for *_, h in events]})
    return writer.finish()
