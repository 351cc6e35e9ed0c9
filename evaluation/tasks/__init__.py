"""HEAR-format evaluation tasks built from sources anyone can install here: Debian packages
(hydrogen-drumkits, sonic-pi-samples, fluidsynth with a General-MIDI soundfont) and our own
speech synthesis (training.corpus, held-out voices only). Install them with
`tools/install_eval_deps.sh`.

    TASKS[name](out_dir, size, seed, sample_rates) -> the task folder it wrote
      keywords  Speech Commands V2-12 style, held-out synthetic voices  (scene, multiclass)
      pitch     NSynth-like note pitch, fluidsynth + GM soundfont        (scene, multiclass)
      events    drum hits at known onsets in ambience                    (event, multilabel)
      drums     drum type of a recorded hit, 5 folds by kit              (scene, multiclass)

    python -m evaluation.tasks OUT_DIR --task NAME|all [--size tiny|full] [--seed 0]
        [--sample-rates 16000,44100]

Sizes: "tiny" builds in seconds (tests, CI), "full" is for the committed results. The same
arguments give the same task (json files identical; audio identical up to the engines).
"""

from collections.abc import Callable
from pathlib import Path

from evaluation.tasks import drums, events, keywords, pitch
from evaluation.tasks.common import SIZES, VERSION

TASKS: dict[str, Callable[[Path, str, int, list[int]], Path]] = {
    "keywords": keywords.build,
    "pitch": pitch.build,
    "events": events.build,
    "drums": drums.build,
}

__all__ = ["TASKS", "SIZES", "VERSION"]
