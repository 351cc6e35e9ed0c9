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


@dataclass(frozen=True)
class Average:
    model: str
    mean: float | None  # plain mean of the primary scores of higher-is-better tasks
    mean_rank: float  # mean over tasks of the model's rank (1 = best)
    tasks: int  # tasks the model has a score on
    of: int  # tasks in the table


def ranks(scores: list[Score]) -> dict[tuple[str, str], float]:
    """(model, task) -> rank among the models scored on the task; 1 = best, ties averaged."""
    out = {}
    for task in _ordered([s.task for s in scores]):
        column = [s for s in scores if s.task == task]
        sign = -1.0 if column[0].higher_is_better else 1.0
        values = sorted(sign * s.value for s in column)
        for s in column:
            v = sign * s.value
            first = values.index(v) + 1
            out[s.model, task] = first + (values.count(v) - 1) / 2
    return out


def averages(scores: list[Score]) -> list[Average]:
    """Each model's mean primary score and mean rank over the tasks, in model order."""
    tasks = _ordered([s.task for s in scores])
    rank = ranks(scores)
    out = []
    for model in _ordered([s.model for s in scores]):
        mine = [s for s in scores if s.model == model]
        values = [s.value for s in mine if s.higher_is_better]
        out.append(Average(model, statistics.fmean(values) if values else None,
                           statistics.fmean(rank[model, s.task] for s in mine), len(mine),
                           len(tasks)))
    return out


def _cell(s: Score | None, best: bool) -> str:
    if s is None:
        return "–"
    value = f"**{s.value:.3f}**" if best else f"{s.value:.3f}"
    return value + (f" ± {s.std:.3f}" if s.std is not None else "")


def markdown(scores: list[Score]) -> str:
    """Rows = models, columns = tasks (primary metric in the header), then (two or more
    tasks) the mean score and mean rank; best per column in bold; ± the standard deviation
    over test folds."""
    models, tasks = _ordered([s.model for s in scores]), _ordered([s.task for s in scores])
    by_key = {(s.model, s.task): s for s in scores}
    best = {}
    for task in tasks:
        column = [s for s in scores if s.task == task]
        pick = max if column[0].higher_is_better else min
        best[task] = pick(s.value for s in column)
    overall = {a.model: a for a in averages(scores)} if len(tasks) > 1 else {}
    # best mean and rank among the models scored on every task (all models when none is)
    full = [a for a in overall.values() if a.tasks == a.of] or list(overall.values())
    means = [a.mean for a in full if a.mean is not None]
    best_rank = min((a.mean_rank for a in full), default=None)
    extra = ["mean", "mean rank"] if overall else []
    lines = [
        "| model | " + " | ".join([_column(scores, t) for t in tasks] + extra) + " |",
        "|---|" + "---:|" * (len(tasks) + len(extra)),
    ]
    for model in models:
        cells = [_cell(by_key.get((model, t)), by_key.get((model, t)) is not None
                       and by_key[model, t].value == best[t]) for t in tasks]
        if overall:
            a = overall[model]
            part = "" if a.tasks == a.of else f" ({a.tasks}/{a.of})"
            mean = "–" if a.mean is None else f"{a.mean:.3f}"
            if a in full and a.mean is not None and a.mean == max(means):
                mean = f"**{mean}**"
            rank = f"{a.mean_rank:.2f}"
            if a in full and a.mean_rank == best_rank:
                rank = f"**{rank}**"
            cells += [mean + part, rank + part]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    note = (
        "Primary metric per task (first of the task's `evaluation` list), on the test split; "
        "k-fold tasks: mean ± standard deviation over the test folds. "
        "A header names heareval's probe grid where the runner recorded it. Best per column in bold."
    )
    if overall:
        note += (" mean: plain mean of the primary scores (lower-is-better metrics left out); "
                 "mean rank: 1 = best on every task; (n/N): over the n tasks a model has (bold only "
                 "among models scored on every task).")
    return "\n".join(lines) + "\n\n" + note + "\n"


def plot(scores: list[Score], path: Path) -> None:
    """Grouped bar chart: one group per task, one bar per model; error bars = fold std."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models, tasks = _ordered([s.model for s in scores]), _ordered([s.task for s in scores])
    by_key = {(s.model, s.task): s for s in scores}
    labels = [_column(scores, t).replace(": ", "\n").replace(" (", "\n(") for t in tasks]
    if len(tasks) > 1:  # the mean over tasks as one more group, without error bars
        for a in averages(scores):
            if a.mean is not None:
                by_key[a.model, "mean"] = Score(a.model, "mean", "mean", a.mean, None, 0)
        tasks = [*tasks, "mean"]
        labels.append("mean over\ntasks")
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
    ax.set_xticks(range(len(tasks)), labels, fontsize="x-small")
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
