"""HEAR-format evaluation tasks built from sources anyone can install here: Debian packages
(hydrogen-drumkits, sonic-pi-samples, ktuberling-data, widelands-data's effects, fluidsynth
with the TimGM6mb soundfont) and our own speech synthesis (training.corpus, held-out voices
only); evaluation/sources.py declares them and reserves them for evaluation. Install them with
`tools/install_eval_deps.sh`.

    TASKS[name](out_dir, size, seed, sample_rates) -> the task folder it wrote
      keywords  Speech Commands V2-12 style, held-out synthetic voices  (scene, multiclass)
      pitch     NSynth-like note pitch, fluidsynth + GM soundfont        (scene, multiclass)
      events    drum hits at known onsets in ambience                    (event, multilabel)
      drums     drum type of a recorded hit, 5 folds by kit              (scene, multiclass)
      esc       environmental sound, widelands-data effects, 5 folds     (scene, multiclass)
      instrument  GM instrument family of a TimGM6mb note                (scene, multiclass)
      language  spoken language of a ktuberling-data word, 5 folds      (scene, multiclass)
      speaker_count  1-4 simultaneous held-out synthetic voices         (scene, multiclass)

    python -m evaluation.tasks OUT_DIR --task NAME|all [--size tiny|full] [--seed 0]
        [--sample-rates 16000,44100]

Sizes: "tiny" builds in seconds (tests, CI), "full" is for the committed results. The same
arguments give the same task (json files identical; audio identical up to the engines).
"""

from collections.abc import Callable
from pathlib import Path

from evaluation.tasks import (
                              drums,
                              esc,
                              events,
                              instrument,
                              keywords,
                              language,
                              pitch,
                              speaker_count,
)
from evaluation.tasks.common import SIZES, VERSION

TASKS: dict[str, Callable[[Path, str, int, list[int]], Path]] = {
    "keywords": keywords.build,
    "pitch": pitch.build,
    "events": events.build,
    "drums": drums.build,
    "esc": esc.build,
    "instrument": instrument.build,
    "language": language.build,
    "speaker_count": speaker_count.build,
}
# task -> the names of the evaluation.sources entries it reads
TASK_SOURCES: dict[str, tuple[str, ...]] = {
    "keywords": keywords.SOURCES, "pitch": pitch.SOURCES, "events": events.SOURCES,
    "drums": drums.SOURCES, "esc": esc.SOURCES, "instrument": instrument.SOURCES,
    "language": language.SOURCES, "speaker_count": speaker_count.SOURCES,
}

__all__ = ["SIZES", "TASKS", "TASK_SOURCES", "VERSION"]
