"""Score a suite run's embeddings again under other probe seeds: the probes' own noise.

    python -m evaluation.seeds OUTPUT --models general general-bf16 --seeds 42 1 2 3
        [--tasks pitch drums] [--baseline general] [--jobs 2]

heareval seeds its probes with 42; a change that moves embeddings a little (bf16, a
quantisation) can move a task's score by about as much as another seed would. This scores
the embeddings that `python -m evaluation.run` left in OUTPUT under each seed (seed 42 is
the suite run itself, reused) with the grid the suite used, and prints every model's mean
and spread per task and, with --baseline, each model's change against the baseline seed by
seed (the same seed trains both models' probes from the same start). Each seed's
predictions go to OUTPUT/seeds/<model>/seed-<N>/, a folder of links to the suite's
embeddings; the scores to OUTPUT/seeds/scores.csv and scores.md.
"""

import argparse
import csv
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from evaluation.run import built_task, built_tasks, grid_of_scores
from evaluation.summary import SCORES_FILE, read_score

HEAREVAL_SEED = 42  # heareval's own: the suite run's scores


@dataclass(frozen=True)
class Job:
    model: str
    task: str
    seed: int
    source: Path  # the suite's embedding folder of (model, task)
    grid: str

    def folder(self, output: Path) -> Path:
        if self.seed == HEAREVAL_SEED:
            return self.source
        return output / "seeds" / self.model / f"seed-{self.seed}" / self.source.name


def suite_tasks(output: Path, model: str) -> dict[str, tuple[Path, str]]:
    """task -> (embedding folder, grid) for every task the suite scored for `model`."""
    found = {}
    for task in built_tasks(output):
        grid = grid_of_scores(output, model, task)
        folders = list((output / "embeddings" / model).glob(f"*/{built_task(output, task).name}"))
        if grid is not None and len(folders) == 1 and (folders[0] / SCORES_FILE).exists():
            found[task] = (folders[0], grid)
    return found


def link_folder(source: Path, dest: Path) -> None:
    """dest: the suite's embeddings and labels as links, without the suite's predictions."""
    dest.mkdir(parents=True, exist_ok=True)
    for f in source.iterdir():
        if f.is_file() and not f.name.startswith(("test.predict", "prediction-done")):
            if not (dest / f.name).exists():
                (dest / f.name).symlink_to(f.resolve())


def run_job(job: Job, output: Path, threads: int) -> Path:
    folder = job.folder(output)
    scores = folder / SCORES_FILE
    if scores.exists():
        return scores
    link_folder(job.source, folder)
    log = folder.parent / f"{folder.name}.log"
    cmd = [sys.executable, "-m", "hear_compat.predictions", str(folder), "--grid", job.grid,
           "--probe-seed", str(job.seed)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    with log.open("w") as f:
        run = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
    if run.returncode != 0 or not scores.exists():
        raise RuntimeError(f"predictions for {job.model} on {job.task}, seed {job.seed} "
                           f"failed (exit status {run.returncode}); log: {log}")
    print(f"  done  {job.model} {job.task} seed {job.seed}", flush=True)
    return scores


def table(rows: list[dict], models: list[str], baseline: str | None) -> str:
    """Markdown: per task, each model's mean (sd) over seeds; with a baseline, each other
    model's mean change over the seeds both have, and the smallest and largest change."""
    by = {(r["model"], r["task"], r["seed"]): r["score"] for r in rows}
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    head = ["task", *(f"{m} mean (sd, n)" for m in models)]
    others = [m for m in models if baseline and m != baseline]
    head += [f"{m} - {baseline}: mean [min, max]" for m in others]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for task in tasks:
        cells = [task]
        for m in models:
            v = [s for (mm, t, _), s in by.items() if mm == m and t == task]
            sd = f"{statistics.stdev(v):.3f}" if len(v) > 1 else "-"
            cells.append(f"{statistics.fmean(v):.3f} ({sd}, {len(v)})" if v else "-")
        for m in others:
            d = [by[(m, task, s)] - by[(baseline, task, s)] for (mm, t, s) in by
                 if mm == m and t == task and (baseline, task, s) in by]
            cells.append(f"{statistics.fmean(d):+.3f} [{min(d):+.3f}, {max(d):+.3f}]" if d else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m evaluation.seeds", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("output", type=Path, help="a suite run's output folder (the config's `output`)")
    p.add_argument("--models", nargs="+", required=True)
    p.add_argument("--seeds", nargs="+", type=int, required=True)
    p.add_argument("--tasks", nargs="+", default=[], help="default: every task scored for all models")
    p.add_argument("--baseline", help="a model of --models to compare the others with")
    p.add_argument("--jobs", type=int, default=1, help="prediction runs at a time")
    args = p.parse_args(argv)
    output = args.output.resolve()
    if args.baseline and args.baseline not in args.models:
        raise SystemExit(f"--baseline {args.baseline!r} is not one of --models")
    found = {m: suite_tasks(output, m) for m in args.models}
    for m, tasks in found.items():
        if not tasks:
            raise SystemExit(f"no scored suite run of model {m!r} in {output}")
    common = [t for t in found[args.models[0]] if all(t in found[m] for m in args.models)]
    tasks = args.tasks or common
    if missing := [t for t in tasks if t not in common]:
        raise SystemExit(f"tasks {missing} are not scored for every model (scored: {common})")
    jobs = [Job(m, t, s, *found[m][t]) for t in tasks for s in args.seeds for m in args.models]
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    print(f"{len(jobs)} scorings, {args.jobs} at a time, {threads} thread(s) each", flush=True)
    with ThreadPoolExecutor(args.jobs) as pool:
        files = list(pool.map(lambda j: run_job(j, output, threads), jobs))
    rows = [{"model": j.model, "task": j.task, "seed": j.seed, "grid": j.grid,
             "score": read_score(j.model, f).value} for j, f in zip(jobs, files)]
    (output / "seeds").mkdir(exist_ok=True)
    with (output / "seeds" / "scores.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    md = table(rows, args.models, args.baseline)
    (output / "seeds" / "scores.md").write_text(md + "\n")
    print("\n" + md)


if __name__ == "__main__":
    main()
