"""One command for a HEAR evaluation suite declared in a TOML config (eval_configs/README.md).

    python -m evaluation.run CONFIG.toml [--only-tasks T ...] [--only-models M ...] [--output DIR]

For each task: build it into OUTPUT/tasks with evaluation.tasks.TASKS, at the sample rates of
all the config's models (leaving out unselected ones that cannot load yet). For each model:
hear-validator, heareval's embedding runner and its prediction runner on each task (through
the hear_compat wrappers, as subprocesses logged to OUTPUT/logs/<model>/), then
OUTPUT/scores.{csv,md,png}. Finished steps are skipped: a task whose build record matches, a
validation whose record matches the model's module, options and weights, embeddings with
heareval's `.done.embeddings`, predictions with `test.predicted-scores.json`. Installs nothing:
needs the [eval] extra, the HEAR 2021 tools and tools/hear_compat, as tools/setup_venv.sh sets
them up.
"""

import argparse
import importlib
import importlib.util
import json
import re
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from evaluation.summary import SCORES_FILE, Score, markdown, read_score, write_summary

Builder = Callable[[Path, str, int, list[int]], Path]
GRIDS = ("default", "fast", "faster")
SIZES = ("tiny", "full")
CONFIG_KEYS = {"output", "size", "seed", "grid", "task_grids", "tasks", "models"}
MODEL_KEYS = {"name", "module", "options", "weights", "tasks"}
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # model names become folder names


class ConfigError(ValueError):
    pass


class StepFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class Model:
    name: str
    module: str
    options: dict[str, Any] = field(default_factory=dict)
    weights: str | None = None  # checkpoint passed to the tools as --model
    tasks: tuple[str, ...] | None = None  # None: all the config's tasks

    def tool_args(self) -> list[str]:
        weights = ["--model", str(Path(self.weights).resolve())] if self.weights else []
        return [self.module, *weights]


@dataclass(frozen=True)
class Config:
    output: Path
    tasks: tuple[str, ...]
    models: tuple[Model, ...]
    size: str = "full"
    seed: int = 0
    grid: str = "default"
    task_grids: dict[str, str] = field(default_factory=dict)  # task -> grid, overriding `grid`

    def tasks_of(self, model: Model) -> tuple[str, ...]:
        return model.tasks if model.tasks is not None else self.tasks

    def grid_of(self, task: str) -> str:
        return self.task_grids.get(task, self.grid)


def _names(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{what} must be a non-empty list of names")
    if len(set(value)) != len(value):
        raise ConfigError(f"{what} lists a name twice: {value}")
    return tuple(value)


def parse_model(entry: Any, tasks: tuple[str, ...], index: int) -> Model:
    where = f"models[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a table with name, module and options")
    where = f"model {entry.get('name', index)!r}"
    if unknown := set(entry) - MODEL_KEYS:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(MODEL_KEYS)}")
    for key in ("name", "module"):
        if not isinstance(entry.get(key), str) or not entry[key]:
            raise ConfigError(f"{where}: missing `{key}` (a string)")
    if not NAME.fullmatch(entry["name"]):
        raise ConfigError(f"{where}: a name is letters, digits, '.', '_' and '-' only")
    options = entry.get("options", {})
    if not isinstance(options, dict):
        raise ConfigError(f"{where}: `options` must be a table (load_model's keyword arguments)")
    weights = entry.get("weights")
    if weights is not None and not isinstance(weights, str):
        raise ConfigError(f"{where}: `weights` must be a path")
    model_tasks = None
    if "tasks" in entry:
        model_tasks = _names(entry["tasks"], f"{where}: `tasks`")
        if extra := set(model_tasks) - set(tasks):
            raise ConfigError(f"{where}: tasks {sorted(extra)} are not in the config's `tasks`")
    return Model(entry["name"], entry["module"], options, weights, model_tasks)


def parse_config(data: dict[str, Any]) -> Config:
    """Check a config's keys and values (see eval_configs/README.md); raises ConfigError."""
    if unknown := set(data) - CONFIG_KEYS:
        raise ConfigError(f"unknown key(s) {sorted(unknown)}; known: {sorted(CONFIG_KEYS)}")
    for key in ("output", "tasks", "models"):
        if key not in data:
            raise ConfigError(f"missing `{key}`")
    if not isinstance(data["output"], str):
        raise ConfigError("`output` must be a path")
    size, grid, seed = data.get("size", "full"), data.get("grid", "default"), data.get("seed", 0)
    if size not in SIZES:
        raise ConfigError(f"`size` must be one of {SIZES}, not {size!r}")
    if grid not in GRIDS:
        raise ConfigError(f"`grid` must be one of {GRIDS}, not {grid!r}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError("`seed` must be an integer")
    tasks = _names(data["tasks"], "`tasks`")
    task_grids = data.get("task_grids", {})
    if not isinstance(task_grids, dict):
        raise ConfigError("`task_grids` must be a table of task = grid")
    if extra := set(task_grids) - set(tasks):
        raise ConfigError(f"`task_grids`: tasks {sorted(extra)} are not in the config's `tasks`")
    for task, task_grid in task_grids.items():
        if task_grid not in GRIDS:
            raise ConfigError(f"`task_grids`: {task} = {task_grid!r}; a grid is one of {GRIDS}")
    entries = data["models"]
    if not isinstance(entries, list) or not entries:
        raise ConfigError("`models` must be a non-empty array of tables ([[models]])")
    models = tuple(parse_model(entry, tasks, i) for i, entry in enumerate(entries))
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise ConfigError(f"model names must be unique: {names}")
    return Config(Path(data["output"]), tasks, models, size, seed, grid, dict(task_grids))


def load_config(path: Path) -> Config:
    try:
        with path.open("rb") as f:
            return parse_config(tomllib.load(f))
    except (tomllib.TOMLDecodeError, ConfigError) as e:
        raise ConfigError(f"{path}: {e}") from None


def select(config: Config, only_tasks: Sequence[str] = (), only_models: Sequence[str] = ()):
    """The config's tasks and models, restricted to those named (each must be in the config)."""
    for wanted, known, what in ((only_tasks, config.tasks, "task"),
                                (only_models, [m.name for m in config.models], "model")):
        if missing := set(wanted) - set(known):
            raise ConfigError(f"--only-{what}s: {sorted(missing)} not in the config ({list(known)})")
    tasks = [t for t in config.tasks if not only_tasks or t in only_tasks]
    models = [m for m in config.models if not only_models or m.name in only_models]
    return tasks, models


def heareval_name(module: str, options: dict[str, Any]) -> str:
    """The folder name heareval's embedding runner gives a module run with --model-options."""
    from slugify import slugify

    return module + "".join(f"-{slugify(k)}={slugify(str(v))}" for k, v in options.items())


@dataclass
class Step:
    """One tool run. It is finished when `done` exists (and, where `stamp` is set, holds
    exactly `stamp`, which the runner writes after a successful run)."""

    kind: str  # validate | embeddings | predictions
    model: str
    task: str | None
    cmd: list[str]
    log: Path
    done: Path
    stamp: str | None = None
    expect: str | None = None  # text the log must contain for a success
    produces: Path | None = None  # a file the tool must have written (when `done` is a stamp)
    stale: tuple[Path, ...] = ()  # files removed before the tool runs (earlier results)

    @property
    def label(self) -> str:
        return f"{self.kind} {self.model}" + (f" on {self.task}" if self.task else "")

    def is_done(self) -> bool:
        if not self.done.exists() or (self.produces is not None and not self.produces.exists()):
            return False
        return self.stamp is None or self.done.read_text() == self.stamp


def validation_step(model: Model, output: Path) -> Step:
    options = json.dumps(model.options)
    stamp = json.dumps({"module": model.module, "options": model.options, "weights": model.weights})
    return Step(
        "validate", model.name, None,
        [sys.executable, "-m", "hear_compat.validate", *model.tool_args(), "--model-options", options],
        output / "logs" / model.name / "validate.log",
        output / "state" / f"validated-{model.name}.json", stamp=stamp, expect="Looks good!",
    )


def embedding_dir(model: Model, task_dir: Path, output: Path) -> Path:
    return output / "embeddings" / model.name / heareval_name(model.module, model.options) / task_dir.name


def embedding_step(model: Model, task: str, task_dir: Path, output: Path) -> Step:
    cmd = [
        sys.executable, "-m", "hear_compat.embeddings", *model.tool_args(),
        "--tasks-dir", str(task_dir.parent), "--task", task_dir.name,
        "--embeddings-dir", str(output / "embeddings" / model.name),
        "--model-options", json.dumps(model.options),
    ]
    done = embedding_dir(model, task_dir, output) / ".done.embeddings"
    return Step("embeddings", model.name, task, cmd, output / "logs" / model.name / f"{task}.embeddings.log", done)


def prediction_step(model: Model, task: str, task_dir: Path, output: Path, grid: str) -> Step:
    where = embedding_dir(model, task_dir, output)
    cmd = [sys.executable, "-m", "hear_compat.predictions", str(where), "--grid", grid]
    log = output / "logs" / model.name / f"{task}.predictions.log"
    # the stamp records the grid: scores from another grid are not reused, and heareval's
    # own marker is removed first (heareval skips a folder that has one, whatever the grid)
    stamp = json.dumps({"grid": grid})
    done = _prediction_stamp(output, model.name, task)
    return Step("predictions", model.name, task, cmd, log, done, stamp=stamp,
                produces=where / SCORES_FILE,
                stale=(where / SCORES_FILE, where / "prediction-done.json"))


def _prediction_stamp(output: Path, model: str, task: str) -> Path:
    """Where the runner records the grid of a model's finished predictions on a task."""
    return output / "state" / f"predicted-{model}-{task}.json"


def grid_of_scores(output: Path, model: str, task: str) -> str | None:
    """The grid recorded when the runner made a model's scores on a task (None: unknown,
    or not scored)."""
    stamp = _prediction_stamp(output, model, task)
    return json.loads(stamp.read_text()).get("grid") if stamp.exists() else None


def run_tool(step: Step) -> None:
    """Run a step's command, its output (stdout and stderr) to its log; raise StepFailed."""
    step.log.parent.mkdir(parents=True, exist_ok=True)
    with step.log.open("w") as log:
        log.write(f"$ {shlex.join(step.cmd)}\n\n")
        log.flush()
        run = subprocess.run(step.cmd, stdout=log, stderr=subprocess.STDOUT)
    if run.returncode != 0:
        raise StepFailed(f"exit status {run.returncode}")


def _tail(path: Path, lines: int = 15) -> str:
    text = path.read_text(errors="replace").splitlines() if path.exists() else []
    return "\n".join("    " + line for line in text[-lines:])


def run_step(step: Step, execute: Callable[[Step], None]) -> bool:
    """Run a step unless it is finished; True when it ran. Raises StepFailed naming the model,
    the task, the step and the log."""
    if step.is_done():
        print(f"  skip  {step.label} (done)", flush=True)
        return False
    print(f"  run   {step.label} (log: {step.log})", flush=True)
    start = time.monotonic()
    for path in step.stale:
        path.unlink(missing_ok=True)
    try:
        execute(step)
        if step.expect is not None and step.expect not in step.log.read_text(errors="replace"):
            raise StepFailed(f"no {step.expect!r} in the output")
        if step.produces is not None and not step.produces.exists():
            raise StepFailed(f"it ended without writing {step.produces}")
        if step.stamp is not None:
            step.done.parent.mkdir(parents=True, exist_ok=True)
            step.done.write_text(step.stamp)
        elif not step.done.exists():
            raise StepFailed(f"it ended without writing {step.done}")
    except StepFailed as e:
        task = f", task {step.task!r}" if step.task else ""
        raise StepFailed(
            f"step {step.kind!r} failed for model {step.model!r}{task}: {e}\n"
            f"  log: {step.log}\n  last lines:\n{_tail(step.log)}"
        ) from None
    print(f"  done  {step.label} in {time.monotonic() - start:.1f} s", flush=True)
    return True


def model_sample_rate(model: Model) -> int:
    """Load the model once, as heareval does, to read its sample_rate."""
    import hear_compat

    hear_compat.positional_librosa_mel()  # hearbaseline's naive model needs it to load
    try:
        loaded = importlib.import_module(model.module).load_model(
            *([model.weights] if model.weights else []), **model.options
        )
        return int(loaded.sample_rate)
    except Exception as e:
        raise ConfigError(f"model {model.name!r}: cannot load {model.module} to read its "
                          f"sample_rate: {type(e).__name__}: {e}") from e


def config_rates(config: Config, selected: list[Model],
                 sample_rate: Callable[[Model], int]) -> set[int]:
    """The sample rates to build tasks at: every model's, so that running the models one at a
    time does not rebuild the tasks. A selected model must load; an unselected one that cannot
    (its weights not trained yet, say) is left out with a note."""
    rates = {sample_rate(m) for m in selected}
    chosen = {m.name for m in selected}
    for m in config.models:
        if m.name not in chosen:
            try:
                rates.add(sample_rate(m))
            except ConfigError as e:
                print(f"  note  {e}; tasks are built without it", flush=True)
    return rates


def _forget_embeddings(output: Path, task_folder: str) -> None:
    """Remove every model's embeddings (and predictions) of a task folder that is rebuilt."""
    for stale in (output / "embeddings").glob(f"*/*/{task_folder}"):
        shutil.rmtree(stale)


def build_task(name: str, config: Config, rates: list[int], builders: dict[str, Builder]) -> Path:
    """The task's folder, built unless its record says it was built with this size and seed
    and at least these sample rates."""
    output = config.output
    record = output / "state" / f"task-{name}.json"
    if record.exists():
        built = json.loads(record.read_text())
        path = Path(built["path"])
        if (built["size"], built["seed"]) == (config.size, config.seed) and set(rates) <= set(
            built["sample_rates"]
        ) and (path / "task_metadata.json").exists():
            print(f"  skip  build {name} (done: {path})", flush=True)
            return path
        if path.exists() and (output / "tasks") in path.parents:
            shutil.rmtree(path)
        _forget_embeddings(output, path.name)
    if name not in builders:
        raise ConfigError(f"task {name!r}: no builder for it (known: {sorted(builders)})")
    print(f"  run   build {name} (size {config.size}, seed {config.seed}, rates {rates})", flush=True)
    start = time.monotonic()
    try:
        path = Path(builders[name](output / "tasks", config.size, config.seed, rates)).resolve()
    except Exception as e:
        raise StepFailed(f"step 'build' failed for task {name!r}: {type(e).__name__}: {e}") from e
    _forget_embeddings(output, path.name)
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(
        {"size": config.size, "seed": config.seed, "sample_rates": rates, "path": str(path)}, indent=1
    ))
    print(f"  done  build {name} in {time.monotonic() - start:.1f} s: {path}", flush=True)
    return path


def built_task(output: Path, name: str) -> Path | None:
    record = output / "state" / f"task-{name}.json"
    return Path(json.loads(record.read_text())["path"]) if record.exists() else None


def built_tasks(output: Path) -> list[str]:
    """The names of the tasks built in OUTPUT (those with a record for `built_task`)."""
    return sorted(p.stem.removeprefix("task-") for p in (output / "state").glob("task-*.json"))


def evaluate(
    config: Config,
    only_tasks: Sequence[str] = (),
    only_models: Sequence[str] = (),
    builders: dict[str, Builder] | None = None,
    execute: Callable[[Step], None] = run_tool,
    sample_rate: Callable[[Model], int] = model_sample_rate,
) -> list[Score]:
    """Build, validate, embed, predict and summarise; returns the scores of all the config's
    models and tasks that have them (also those of earlier runs)."""
    tasks, models = select(config, only_tasks, only_models)
    config = replace(config, output=config.output.resolve())
    output = config.output
    if builders is None:
        from evaluation.tasks import TASKS as builders
    print(f"reading the sample rates of {len(config.models)} model(s)", flush=True)
    rates = sorted(config_rates(config, models, sample_rate))
    task_dirs = {t: build_task(t, config, rates, builders) for t in tasks}
    for model in models:
        print(f"model {model.name}: {model.module} {json.dumps(model.options)}", flush=True)
        run_step(validation_step(model, output), execute)
        for task in config.tasks_of(model):
            if task in task_dirs:
                run_step(embedding_step(model, task, task_dirs[task], output), execute)
                run_step(prediction_step(model, task, task_dirs[task], output, config.grid_of(task)),
                         execute)
    scores = []  # every model and task of the config, in its order, done now or before
    for model in config.models:
        for task in config.tasks_of(model):
            task_dir = built_task(output, task)
            scores_file = task_dir and embedding_dir(model, task_dir, output) / SCORES_FILE
            if scores_file and scores_file.exists():
                score = read_score(model.name, scores_file)
                scores.append(replace(score, grid=grid_of_scores(output, model.name, task)))
    if scores:
        write_summary(scores, output)
    return scores


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m evaluation.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", type=Path, help="a TOML config, e.g. eval_configs/tiny.toml")
    parser.add_argument("--only-tasks", nargs="+", default=[], metavar="TASK")
    parser.add_argument("--only-models", nargs="+", default=[], metavar="MODEL")
    parser.add_argument("--output", type=Path, help="overrides the config's `output`")
    args = parser.parse_args(argv)
    start = time.monotonic()
    try:
        config = load_config(args.config)
        if args.output is not None:
            config = replace(config, output=args.output)
        for module in ("hearvalidator", "heareval", "hear_compat"):
            if importlib.util.find_spec(module) is None:
                raise ConfigError(f"{module} is not installed: set up with tools/setup_venv.sh "
                                  "(hear_compat: pip install tools/hear_compat)")
        scores = evaluate(config, args.only_tasks, args.only_models)
    except (ConfigError, StepFailed) as e:
        raise SystemExit(f"evaluation.run: {e}")
    output = config.output.resolve()
    if scores:
        print("\n" + markdown(scores))
        print(f"scores: {output}/scores.md, scores.csv, scores.png")
    print(f"total {time.monotonic() - start:.1f} s")


if __name__ == "__main__":
    main()
