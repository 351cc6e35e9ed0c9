"""Score summary of heareval's prediction runs: the primary score per model and task.

`python -m evaluation.summary OUTPUT_DIR` reads every
`OUTPUT_DIR/embeddings/<model>/<heareval name>/<task>/test.predicted-scores.json` and writes
`OUTPUT_DIR/scores.csv`, `scores.md` and `scores.png`. The primary metric of a task is the first
of its metadata's `evaluation` list. heareval stores, per test split, the test metrics under
`test_<metric>` (trainvaltest tasks: one split "test"; k-fold tasks: one entry per fold); the
score is their mean over the test folds (heareval's `aggregated_scores` `_mean`), the spread
their sample standard deviation (its `_std`).
"""

import argparse
import csv
import json
import statistics
from dataclasses import dataclass
from pathlib import Path

SCORES_FILE = "test.predicted-scores.json"
# heareval metrics that are minimised (ScoreFunction.maximize=False); all others are maximised
LOWER_IS_BETTER = frozenset({"segment_1s_er"})


@dataclass(frozen=True)
class Score:
    model: str
    task: str
    metric: str
    value: float  # mean over the test folds
    std: float | None  # over the test folds; None for a single test split
    folds: int
    grid: str | None = None  # heareval's prediction grid, where the runner recorded it

    @property
    def higher_is_better(self) -> bool:
        return self.metric not in LOWER_IS_BETTER


def read_score(model: str, scores_file: Path) -> Score:
    """The primary score in one heareval `test.predicted-scores.json` (task_metadata.json,
    which heareval copies into the embedding folder, must be beside it)."""
    metadata = json.loads((scores_file.parent / "task_metadata.json").read_text())
    metric = metadata["evaluation"][0]
    results = json.loads(scores_file.read_text())
    key = f"test_{metric}"
    # per-split entries are dicts holding test_<metric>; aggregated_scores holds _mean/_std
    values = [float(v[key]) for v in results.values() if isinstance(v, dict) and key in v]
    if not values:
        raise ValueError(f"{scores_file}: no {key} in any test split")
    std = statistics.stdev(values) if len(values) > 1 else None
    return Score(model, metadata["task_name"], metric, statistics.fmean(values), std, len(values))


def find_scores(output: Path) -> list[Score]:
    """Every scored (model, task) under OUTPUT_DIR/embeddings, sorted by model and task."""
    files = sorted((output / "embeddings").glob(f"*/*/*/{SCORES_FILE}"))
    return sorted(
        (read_score(f.relative_to(output / "embeddings").parts[0], f) for f in files),
        key=lambda s: (s.model, s.task),
    )


def _ordered(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))  # unique, in order of first appearance


def _column(scores: list[Score], task: str) -> str:
    """`task: metric`, then what a reader must know: lower is better, the grid(s) of the probes."""
    metric = next(s.metric for s in scores if s.task == task)
    notes = ["lower is better"] if metric in LOWER_IS_BETTER else []
    if grids := _ordered([s.grid for s in scores if s.task == task and s.grid is not None]):
        notes.append("/".join(grids) + " grid")
    return f"{task}: {metric}" + (f" ({', '.join(notes)})" if notes else "")


def markdown(scores: list[Score]) -> str:
    """Rows = models, columns = tasks (primary metric in the header); best per task in bold."""
    models, tasks = _ordered([s.model for s in scores]), _ordered([s.task for s in scores])
    by_key = {(s.model, s.task): s for s in scores}
    best = {}
    for task in tasks:
        column = [s for s in scores if s.task == task]
        pick = max if column[0].higher_is_better else min
        best[task] = pick(s.value for s in column)
    lines = [
        "| model | " + " | ".join(_column(scores, t) for t in tasks) + " |",
        "|---|" + "---:|" * len(tasks),
    ]
    for model in models:
        cells = []
        for task in tasks:
            s = by_key.get((model, task))
            cell = "–" if s is None else f"{s.value:.3f}"
            cells.append(f"**{cell}**" if s is not None and s.value == best[task] else cell)
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    note = (
        "Primary metric per task (first of the task's `evaluation` list), on the test split; "
        "k-fold tasks: mean over the test folds (standard deviations in scores.csv). "
        "A header names heareval's probe grid where the runner recorded it. Best per task in bold."
    )
    return "\n".join(lines) + "\n\n" + note + "\n"


def plot(scores: list[Score], path: Path) -> None:
    """Grouped bar chart: one group per task, one bar per model; error bars = fold std."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models, tasks = _ordered([s.model for s in scores]), _ordered([s.task for s in scores])
    by_key = {(s.model, s.task): s for s in scores}
    width = 0.8 / len(models)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 + len(tasks) * (0.5 + 0.3 * len(models))), 4.5))
    for i, model in enumerate(models):
        bars = [(j - 0.4 + (i + 0.5) * width, by_key[model, task])
                for j, task in enumerate(tasks) if (model, task) in by_key]
        ax.bar([x for x, _ in bars], [s.value for _, s in bars], width, label=model)
        folds = [(x, s) for x, s in bars if s.std is not None]
        if folds:
            ax.errorbar([x for x, _ in folds], [s.value for _, s in folds],
                        yerr=[s.std for _, s in folds], fmt="none", ecolor="black", capsize=2)
    ax.set_xticks(range(len(tasks)), [_column(scores, t).replace(": ", "\n") for t in tasks])
    ax.set_ylabel("primary score (test)")
    ax.set_title("HEAR evaluation: primary score per task")
    ax.legend(fontsize="small", ncol=2)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_summary(scores: list[Score], output: Path) -> list[Path]:
    """Write scores.csv (one row per model and task), scores.md and scores.png; models and
    tasks appear in the order of `scores`. Returns the paths written."""
    if not scores:
        raise ValueError(f"no {SCORES_FILE} under {output / 'embeddings'}: nothing to summarise")
    paths = [output / "scores.csv", output / "scores.md", output / "scores.png"]
    with paths[0].open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["model", "task", "metric", "higher_is_better", "score", "std", "folds", "grid"])
        for s in scores:
            std = "" if s.std is None else f"{s.std:.6f}"
            writer.writerow([s.model, s.task, s.metric, s.higher_is_better, f"{s.value:.6f}", std, s.folds,
                             s.grid or ""])
    paths[1].write_text(markdown(scores))
    try:
        plot(scores, paths[2])
    except ImportError:  # matplotlib comes with the [train] extra
        print(f"matplotlib is not installed: no {paths[2].name}")
        return paths[:2]
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m evaluation.summary", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", type=Path, help="the `output` folder of an evaluation config")
    args = parser.parse_args()
    scores = find_scores(args.output)
    try:
        paths = write_summary(scores, args.output)
    except ValueError as e:
        raise SystemExit(str(e))
    print(markdown(scores))
    print("wrote " + ", ".join(str(p) for p in paths))


if __name__ == "__main__":
    main()
