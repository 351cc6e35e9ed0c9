"""The evaluation runner (evaluation/run.py), its score summary and the hear_compat fixes,
on fake heareval outputs and fake tools written here; one end-to-end run of the real tools
when they are installed."""

import csv
import importlib.util
import json
import statistics
import sys
from pathlib import Path

import numpy as np
import pytest

from evaluation.run import (
    Config,
    ConfigError,
    Step,
    StepFailed,
    evaluate,
    heareval_name,
    load_config,
    parse_config,
    run_step,
    run_tool,
)
from evaluation.summary import find_scores, markdown, read_score, write_summary

ROOT = Path(__file__).resolve().parents[1]
needs = {m: importlib.util.find_spec(m) is None for m in ("heareval", "hear_compat", "librosa")}


def write_metadata(folder: Path, name: str, evaluation: list[str], split_mode: str, splits: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    meta = {
        "task_name": name, "version": "v1", "embedding_type": "scene",
        "prediction_type": "multiclass", "split_mode": split_mode, "sample_duration": 1.0,
        "evaluation": evaluation, "mode": "tiny", "splits": splits,
    }
    (folder / "task_metadata.json").write_text(json.dumps(meta))


def write_heareval_scores(folder: Path, per_split: dict[str, dict[str, float]]) -> None:
    """A test.predicted-scores.json laid out as heareval's task_predictions writes it."""
    results: dict = {split: {**scores, "test_loss": 0.5, "epoch": 3} for split, scores in per_split.items()}
    if len(per_split) > 1:  # heareval aggregates k folds with pandas mean / std (ddof 1)
        keys = next(iter(per_split.values()))
        results["aggregated_scores"] = {
            f"{k}_{stat}": fn([s[k] for s in per_split.values()])
            for k in keys for stat, fn in (("mean", statistics.fmean), ("std", statistics.stdev))
        }
    results.update({"hparams": {"lr": 0.001}, "postprocessing": [], "score_mode": "max",
                    "embedding_path": str(folder)})
    (folder / "test.predicted-scores.json").write_text(json.dumps(results))


def write_fake_output(root: Path) -> None:
    """Two models, three tasks: trainvaltest (top1_acc), 3-fold (pitch_acc), lower-is-better."""
    emb = root / "embeddings"
    for model, base in (("kwmlp", 0.0), ("naive", -0.2)):
        folder = emb / model / f"{model}_module" / "kw-v1-tiny"
        write_metadata(folder, "kw", ["top1_acc", "mAP"], "trainvaltest", ["train", "valid", "test"])
        write_heareval_scores(folder, {"test": {"test_top1_acc": 0.9 + base, "test_mAP": 0.1}})
        folder = emb / model / f"{model}_module" / "pitch-v1-tiny"
        folds = ["fold00", "fold01", "fold02"]
        write_metadata(folder, "pitch", ["pitch_acc", "chroma_acc"], "new_split_kfold", folds)
        write_heareval_scores(folder, {f: {"test_pitch_acc": 0.5 + base + 0.1 * i, "test_chroma_acc": 0.9}
                                       for i, f in enumerate(folds)})
        folder = emb / model / f"{model}_module" / "ev-v1-tiny"
        write_metadata(folder, "ev", ["segment_1s_er", "event_onset_200ms_fms"], "trainvaltest", ["test"])
        write_heareval_scores(folder, {"test": {"test_segment_1s_er": 0.4 - base, "test_event_onset_200ms_fms": 0.3}})


@pytest.fixture
def fake_output(tmp_path) -> Path:
    write_fake_output(tmp_path)
    return tmp_path


def test_summary_reads_trainvaltest_and_kfold_scores(fake_output):
    scores = {(s.model, s.task): s for s in find_scores(fake_output)}
    assert len(scores) == 6
    kw = scores["kwmlp", "kw"]
    assert (kw.metric, kw.value, kw.std, kw.folds) == ("top1_acc", pytest.approx(0.9), None, 1)
    pitch = scores["kwmlp", "pitch"]  # the mean of the test folds, as heareval aggregates them
    aggregated = json.loads(next(fake_output.glob("embeddings/kwmlp/*/pitch-v1-tiny/test.predicted-scores.json"))
                            .read_text())["aggregated_scores"]
    assert pitch.metric == "pitch_acc" and pitch.folds == 3
    assert pitch.value == pytest.approx(aggregated["test_pitch_acc_mean"]) == pytest.approx(0.6)
    assert pitch.std == pytest.approx(aggregated["test_pitch_acc_std"]) == pytest.approx(0.1)
    assert not scores["kwmlp", "ev"].higher_is_better and scores["kwmlp", "ev"].value == pytest.approx(0.4)


def test_summary_writes_table_csv_and_chart(fake_output):
    paths = write_summary(find_scores(fake_output), fake_output)
    table = paths[1].read_text().splitlines()
    assert table[0] == ("| model | ev: segment_1s_er (lower is better) | kw: top1_acc | pitch: pitch_acc "
                        "| mean | mean rank |")
    # best in bold: the lower error, the higher accuracies; k-fold tasks with their fold std;
    # the mean leaves the error rate out, the rank does not
    assert table[2] == "| kwmlp | **0.400** | **0.900** | **0.600** ± 0.100 | **0.750** | **1.00** |"
    assert table[3] == "| naive | 0.600 | 0.700 | 0.400 ± 0.100 | 0.550 | 2.00 |"
    rows = list(csv.DictReader(paths[0].open()))
    assert {(r["model"], r["task"], r["metric"], r["higher_is_better"]) for r in rows} >= {
        ("kwmlp", "ev", "segment_1s_er", "False"), ("naive", "pitch", "pitch_acc", "True")}
    pitch = next(r for r in rows if r["model"] == "naive" and r["task"] == "pitch")
    assert float(pitch["score"]) == pytest.approx(0.4) and pitch["folds"] == "3"
    assert float(pitch["std"]) == pytest.approx(0.1)
    assert paths[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_averages_and_ranks_over_tasks():
    from evaluation.summary import Score, averages, ranks

    scores = [Score("a", "t1", "top1_acc", 0.8, None, 1), Score("b", "t1", "top1_acc", 0.8, None, 1),
              Score("c", "t1", "top1_acc", 0.5, None, 1), Score("a", "t2", "top1_acc", 0.2, None, 1),
              Score("b", "t2", "top1_acc", 0.6, None, 1)]
    rank = ranks(scores)
    assert (rank["a", "t1"], rank["b", "t1"], rank["c", "t1"]) == (1.5, 1.5, 3.0)  # a tie shares
    assert (rank["b", "t2"], rank["a", "t2"]) == (1.0, 2.0)
    by_model = {x.model: x for x in averages(scores)}
    assert by_model["a"].mean == pytest.approx(0.5) and by_model["a"].mean_rank == 1.75
    assert by_model["b"].mean == pytest.approx(0.7) and by_model["b"].mean_rank == 1.25
    assert (by_model["c"].tasks, by_model["c"].of, by_model["c"].mean) == (1, 2, 0.5)
    row = next(r for r in markdown(scores).splitlines() if r.startswith("| c |"))
    assert row == "| c | 0.500 | – | 0.500 (1/2) | 3.00 (1/2) |"


def test_summary_marks_the_lower_error_best(fake_output):
    scores = [s for s in find_scores(fake_output) if s.task == "ev"]
    assert markdown(scores).splitlines()[2:4] == ["| kwmlp | **0.400** |", "| naive | 0.600 |"]


def test_summary_rejects_a_file_without_the_primary_metric(tmp_path):
    write_metadata(tmp_path, "kw", ["top1_acc"], "trainvaltest", ["test"])
    write_heareval_scores(tmp_path, {"test": {"test_mAP": 0.3}})
    with pytest.raises(ValueError, match="no test_top1_acc"):
        read_score("m", tmp_path / "test.predicted-scores.json")


@pytest.mark.skipif(needs["heareval"], reason="heareval is not installed")
def test_lower_is_better_agrees_with_heareval():
    from heareval.score import available_scores

    from evaluation.summary import LOWER_IS_BETTER

    minimised = {name for name, score in available_scores.items() if not score(label_to_idx={"a": 0}).maximize}
    assert minimised == LOWER_IS_BETTER


# --- the config


def config_dict(**changes) -> dict:
    data = {"output": "out", "size": "tiny", "grid": "faster", "tasks": ["keywords", "events"],
            "models": [{"name": "kw", "module": "hear_mixers", "options": {"depth": [4, 8]}}]}
    return {**data, **changes}


def test_config_parses_with_defaults():
    config = parse_config(config_dict(models=[{"name": "m", "module": "x"}], grid="fast"))
    assert (config.size, config.seed, config.grid, config.output) == ("tiny", 0, "fast", Path("out"))
    assert config.models[0].options == {} and config.tasks_of(config.models[0]) == ("keywords", "events")


@pytest.mark.parametrize("changes, message", [
    ({"grids": "fast"}, r"unknown key\(s\) \['grids'\]"),
    ({"models": [{"name": "m", "module": "x", "option": {}}]}, r"model 'm': unknown key\(s\) \['option'\]"),
    ({"models": [{"name": "m", "options": {}}]}, "model 'm': missing `module`"),
    ({"models": [{"module": "x"}]}, "missing `name`"),
    ({"models": [{"name": "m", "module": "x"}, {"name": "m", "module": "y"}]}, "unique"),
    ({"models": [{"name": "a/b", "module": "x"}]}, "letters, digits"),
    ({"models": [{"name": "m", "module": "x", "options": "depth=4"}]}, "`options` must be a table"),
    ({"models": [{"name": "m", "module": "x", "tasks": ["drums"]}]}, r"\['drums'\] are not in"),
    ({"models": []}, "non-empty array"),
    ({"grid": "fastest"}, "`grid` must be one of"),
    ({"task_grids": "faster"}, "`task_grids` must be a table"),
    ({"task_grids": {"drums": "faster"}}, r"`task_grids`: tasks \['drums'\] are not in"),
    ({"task_grids": {"events": "fastest"}}, "events = 'fastest'; a grid is one of"),
    ({"size": "huge"}, "`size` must be one of"),
    ({"tasks": []}, "non-empty list"),
    ({"output": None}, "`output` must be a path"),
])
def test_config_errors(changes, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(config_dict(**changes))


def test_config_missing_output_and_bad_toml(tmp_path):
    data = config_dict()
    del data["output"]
    with pytest.raises(ConfigError, match="missing `output`"):
        parse_config(data)
    bad = tmp_path / "bad.toml"
    bad.write_text("tasks = [keywords]\n")
    with pytest.raises(ConfigError, match="bad.toml"):
        load_config(bad)


@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "eval_configs").glob("*.toml")))
def test_shipped_configs_parse(name):
    from evaluation.tasks import TASKS

    config = load_config(ROOT / "eval_configs" / f"{name}.toml")
    assert config.size == ("tiny" if name == "tiny" else "full") and config.models
    assert set(config.tasks) <= set(TASKS)
    if name in ("tiny", "full", "three-models"):  # the suite: every task
        assert set(config.tasks) == set(TASKS)
    if name in ("full", "three-models"):  # every model on every task
        assert all(m.tasks is None for m in config.models)


def test_heareval_folder_name():  # as heareval's embedding runner names it (test_hear_tools)
    assert heareval_name("hear_mixers", {"depth": [4, 8]}) == "hear_mixers-depth=4-8"
    assert heareval_name("m", {"scene_pooling": "mean", "depth": 4}) == "m-scene-pooling=mean-depth=4"
    assert heareval_name("hearbaseline.naive", {}) == "hearbaseline.naive"


# --- the runner's plan and skip logic, with fake task builders and fake tools


class FakeTools:
    """Stands in for the three tools: records each step and writes what the real one would."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def __call__(self, step: Step) -> None:
        self.ran.append(step.label)
        step.log.parent.mkdir(parents=True, exist_ok=True)
        step.log.write_text("Looks good!\n" if step.kind == "validate" else "ok\n")
        if step.kind == "embeddings":
            task_dir = Path(step.cmd[step.cmd.index("--tasks-dir") + 1]) / step.cmd[step.cmd.index("--task") + 1]
            step.done.parent.mkdir(parents=True)
            (step.done.parent / "task_metadata.json").write_text((task_dir / "task_metadata.json").read_text())
            step.done.touch()
        elif step.kind == "predictions":
            write_heareval_scores(step.produces.parent, {"test": {"test_top1_acc": 0.75}})


def fake_builders(calls: list) -> dict:
    def builder(name: str):
        def build(out_dir: Path, size: str, seed: int, rates: list[int]) -> Path:
            calls.append((name, size, seed, rates))
            task = out_dir / f"{name}-v1-{size}"
            write_metadata(task, name, ["top1_acc"], "trainvaltest", ["train", "valid", "test"])
            return task
        return build
    return {name: builder(name) for name in ("keywords", "pitch", "events", "drums")}


def two_model_config(tmp_path, **options) -> Config:
    return parse_config(config_dict(output=str(tmp_path / "out"), models=[
        {"name": "kw", "module": "hear_mixers", "options": options},
        {"name": "naive", "module": "hearbaseline.naive", "tasks": ["keywords"]},
    ]))


RATES = {"hear_mixers": 16000, "hearbaseline.naive": 44100}


def test_runner_runs_every_step_once_then_skips(tmp_path):
    calls, tools = [], FakeTools()
    config = two_model_config(tmp_path, depth=4)
    run = dict(builders=fake_builders(calls), execute=tools, sample_rate=lambda m: RATES[m.module])
    scores = evaluate(config, **run)
    assert calls == [("keywords", "tiny", 0, [16000, 44100]), ("events", "tiny", 0, [16000, 44100])]
    assert tools.ran == [
        "validate kw", "embeddings kw on keywords", "predictions kw on keywords",
        "embeddings kw on events", "predictions kw on events",
        "validate naive", "embeddings naive on keywords", "predictions naive on keywords",
    ]
    assert [(s.model, s.task, s.value) for s in scores] == [
        ("kw", "keywords", 0.75), ("kw", "events", 0.75), ("naive", "keywords", 0.75)]
    assert (config.output / "scores.md").exists() and (config.output / "scores.png").exists()
    assert (config.output / "embeddings/kw/hear_mixers-depth=4/keywords-v1-tiny/.done.embeddings").exists()

    calls.clear(), tools.ran.clear()
    assert len(evaluate(config, **run)) == 3
    assert calls == [] and tools.ran == []  # nothing reruns

    # a missing score file reruns only that prediction
    next((config.output / "embeddings/kw").glob("*/events-v1-tiny/test.predicted-scores.json")).unlink()
    evaluate(config, **run)
    assert calls == [] and tools.ran == ["predictions kw on events"]


def test_runner_reruns_what_a_changed_config_affects(tmp_path):
    calls, tools = [], FakeTools()
    run = dict(builders=fake_builders(calls), execute=tools, sample_rate=lambda m: RATES[m.module])
    evaluate(two_model_config(tmp_path, depth=4), **run)
    calls.clear(), tools.ran.clear()
    # other options: revalidated and new embeddings for that model only
    evaluate(two_model_config(tmp_path, depth=8), only_models=["kw"], **run)
    assert calls == [] and tools.ran == [
        "validate kw", "embeddings kw on keywords", "predictions kw on keywords",
        "embeddings kw on events", "predictions kw on events"]
    # another seed: the tasks are rebuilt and their old embeddings dropped
    tools.ran.clear()
    config = parse_config({**config_dict(output=str(tmp_path / "out"), seed=1), "models": [
        {"name": "kw", "module": "hear_mixers", "options": {"depth": 8}}]})
    evaluate(config, only_tasks=["events"], **run)
    assert calls == [("events", "tiny", 1, [16000])]
    assert tools.ran == ["embeddings kw on events", "predictions kw on events"]
    assert not list((tmp_path / "out/embeddings/naive").glob("*/events-v1-tiny"))


def test_runner_skips_an_unselected_model_that_cannot_load_yet(tmp_path, capsys):
    calls, tools = [], FakeTools()

    def sample_rate(model):  # naive's weights "not trained yet"
        if model.name == "naive":
            raise ConfigError("model 'naive': cannot load hearbaseline.naive")
        return RATES[model.module]

    run = dict(builders=fake_builders(calls), execute=tools, sample_rate=sample_rate)
    evaluate(two_model_config(tmp_path), only_models=["kw"], **run)
    assert calls == [("keywords", "tiny", 0, [16000]), ("events", "tiny", 0, [16000])]
    assert "cannot load hearbaseline.naive; tasks are built without it" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="cannot load hearbaseline.naive"):  # selected: an error
        evaluate(two_model_config(tmp_path), only_models=["naive"], **run)


def test_runner_reruns_predictions_of_another_grid(tmp_path):
    calls, tools = [], FakeTools()
    run = dict(builders=fake_builders(calls), execute=tools, sample_rate=lambda m: RATES[m.module])
    evaluate(two_model_config(tmp_path), only_models=["naive"], **run)
    where = next((tmp_path / "out/embeddings/naive").glob("*/keywords-v1-tiny"))
    (where / "prediction-done.json").write_text("{}")  # heareval's own marker
    tools.ran.clear()
    config = parse_config({**config_dict(output=str(tmp_path / "out"), grid="fast"), "models": [
        {"name": "naive", "module": "hearbaseline.naive", "tasks": ["keywords"]}]})
    evaluate(config, **run)
    assert tools.ran == ["predictions naive on keywords"]  # validation and embeddings kept
    assert not (where / "prediction-done.json").exists()  # removed, or heareval would skip


def test_runner_uses_a_tasks_own_grid_and_names_it_in_the_table(tmp_path):
    calls, tools = [], FakeTools()
    run = dict(builders=fake_builders(calls), execute=tools, sample_rate=lambda m: RATES[m.module])
    commands = []
    def record(step):
        commands.append(step.cmd)
        tools(step)
    config = parse_config({**config_dict(output=str(tmp_path / "out"), grid="fast",
                                         task_grids={"events": "faster"}),
                           "models": [{"name": "kw", "module": "hear_mixers"}]})
    assert (config.grid_of("keywords"), config.grid_of("events")) == ("fast", "faster")
    scores = evaluate(config, **{**run, "execute": record})
    assert [c[c.index("--grid") + 1] for c in commands if "hear_compat.predictions" in c] == ["fast", "faster"]
    assert [(s.task, s.grid) for s in scores] == [("keywords", "fast"), ("events", "faster")]
    table = (config.output / "scores.md").read_text()
    assert "keywords: top1_acc (fast grid)" in table and "events: top1_acc (faster grid)" in table
    rows = list(csv.DictReader((config.output / "scores.csv").open()))
    assert [r["grid"] for r in rows] == ["fast", "faster"]
    # the grid shown is the one recorded with the scores, also for a task not rerun now
    config = parse_config({**config_dict(output=str(tmp_path / "out"), grid="default"),
                           "models": [{"name": "kw", "module": "hear_mixers"}]})
    scores = evaluate(config, only_tasks=["keywords"], **run)
    assert [(s.task, s.grid) for s in scores] == [("keywords", "default"), ("events", "faster")]


def test_runner_rejects_unknown_selection(tmp_path):
    with pytest.raises(ConfigError, match=r"--only-models: \['nope'\]"):
        evaluate(two_model_config(tmp_path), only_models=["nope"], builders={}, execute=FakeTools())


def test_failed_step_names_model_task_step_and_log(tmp_path):
    log = tmp_path / "logs" / "kw" / "keywords.embeddings.log"
    cmd = [sys.executable, "-c", "print('loading model'); raise SystemExit('model exploded')"]
    step = Step("embeddings", "kw", "keywords", cmd, log, tmp_path / "done")
    with pytest.raises(StepFailed) as failure:
        run_step(step, run_tool)
    message = str(failure.value)
    for part in ("'embeddings'", "model 'kw'", "task 'keywords'", "exit status 1", str(log), "model exploded"):
        assert part in message
    assert "loading model" in log.read_text()


def test_step_that_writes_no_result_fails(tmp_path):
    step = Step("predictions", "kw", "keywords", [sys.executable, "-c", "pass"],
                tmp_path / "logs/kw/p.log", tmp_path / "state.json", stamp="{}",
                produces=tmp_path / "test.predicted-scores.json")
    with pytest.raises(StepFailed, match="without writing"):
        run_step(step, run_tool)
    validate = Step("validate", "kw", None, [sys.executable, "-c", "print('Bad!')"],
                    tmp_path / "logs/kw/v.log", tmp_path / "validated.json", stamp="{}", expect="Looks good!")
    with pytest.raises(StepFailed, match="no 'Looks good!'"):
        run_step(validate, run_tool)
    assert not validate.done.exists()


# --- the hear_compat fixes, each in isolation

compat = pytest.mark.skipif(needs["hear_compat"], reason="tools/hear_compat is not installed")


@compat
def test_fix1_allows_full_torch_load(tmp_path, monkeypatch):
    import torch

    import hear_compat

    path = tmp_path / "ckpt.pt"
    torch.save({"epoch": 3, "hparams": {"dir": Path("x")}}, path)  # like lightning's: not plain data
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "0")  # restored after the test
    monkeypatch.delenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
    with pytest.raises(Exception, match="[Ww]eights only load failed"):
        torch.load(path)
    hear_compat.allow_full_torch_load()
    assert torch.load(path)["epoch"] == 3


@compat
def test_fix2_makes_fit_loop_epoch_settable(monkeypatch):
    pl = pytest.importorskip("pytorch_lightning")
    from pytorch_lightning.loops import FitLoop

    import hear_compat

    monkeypatch.setattr(FitLoop, "current_epoch", getattr(FitLoop, "current_epoch", None), raising=False)
    hear_compat.settable_fit_loop_epoch()
    hear_compat.settable_fit_loop_epoch()  # idempotent
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    trainer.fit_loop.current_epoch = 7  # what heareval does before testing
    assert trainer.current_epoch == 7 and trainer.fit_loop.current_epoch == 7


@compat
@pytest.mark.skipif(needs["librosa"], reason="librosa is not installed")
def test_fix3_accepts_positional_librosa_mel(monkeypatch):
    import librosa.filters

    import hear_compat

    original = librosa.filters.mel
    monkeypatch.setattr(librosa.filters, "mel", original)  # undone after the test
    hear_compat.positional_librosa_mel()
    wrapped = librosa.filters.mel
    hear_compat.positional_librosa_mel()
    assert librosa.filters.mel is wrapped  # idempotent
    expected = original(sr=16000, n_fft=512, n_mels=40)
    assert np.array_equal(wrapped(16000, n_fft=512, n_mels=40), expected)  # hearbaseline's call
    assert np.array_equal(wrapped(16000, 512, 40), expected)
    assert np.array_equal(wrapped(sr=16000, n_fft=512, n_mels=40), expected)
    with pytest.raises(TypeError):
        wrapped(16000, sr=16000, n_fft=512)
    if importlib.util.find_spec("hearbaseline") is not None:
        from hearbaseline import naive

        assert naive.load_model().sample_rate == 44100


# --- end to end: the real tools on one tiny event task (fixes 1 and 2 matter there)


def build_tiny_event_task(out_dir: Path, size: str, seed: int, rates: list[int]) -> Path:
    import soundfile as sf

    assert rates == [16000]  # the audio is written at that rate only
    task = out_dir / "tiny_event-v1-tiny"
    rng = np.random.default_rng(seed)
    splits = ["train", "valid", "test"]
    meta = {
        "task_name": "tiny_event", "version": "v1", "embedding_type": "event",
        "prediction_type": "multilabel", "split_mode": "trainvaltest", "sample_duration": 2.0,
        "evaluation": ["event_onset_200ms_fms", "segment_1s_er"], "mode": size, "splits": splits,
    }
    task.mkdir(parents=True)
    (task / "task_metadata.json").write_text(json.dumps(meta))
    (task / "labelvocabulary.csv").write_text("idx,label\n0,beep\n")
    t = np.arange(2 * 16000) / 16000
    for split in splits:
        labels = {}
        for i in range(4):
            start = 0.2 + 0.3 * i
            audio = 0.05 * rng.standard_normal(t.size)
            audio[(t >= start) & (t < start + 0.5)] += 0.5 * np.sin(2 * np.pi * 1000 * t[(t >= start) & (t < start + 0.5)])
            labels[f"{i}.wav"] = [{"label": "beep", "start": 1000 * start, "end": 1000 * (start + 0.5)}]
            (task / "16000" / split).mkdir(parents=True, exist_ok=True)
            sf.write(task / "16000" / split / f"{i}.wav", audio.astype(np.float32), 16000)
        (task / f"{split}.json").write_text(json.dumps(labels))
    return task


@pytest.mark.slow
@pytest.mark.skipif(needs["heareval"] or needs["hear_compat"], reason="needs heareval and hear_compat")
def test_end_to_end_on_a_tiny_event_task(tmp_path, checkpoint):
    config = parse_config({
        "output": str(tmp_path / "out"), "size": "tiny", "grid": "faster", "tasks": ["tiny_event"],
        "models": [{"name": "kw", "module": "hear_mixers", "weights": checkpoint, "options": {"depth": 4}}],
    })
    scores = evaluate(config, builders={"tiny_event": build_tiny_event_task})
    assert [(s.model, s.task, s.metric) for s in scores] == [("kw", "tiny_event", "event_onset_200ms_fms")]
    assert 0.0 <= scores[0].value <= 1.0
    header = "| model | tiny_event: event_onset_200ms_fms (faster grid) |"
    assert (tmp_path / "out" / "scores.md").read_text().startswith(header)
    log = (tmp_path / "out/logs/kw/tiny_event.predictions.log").read_text()
    assert "Final Test Results" in log


def test_committed_results_table_is_the_committed_csv():
    """eval_configs/results: scores.md is what evaluation.summary renders from scores.csv."""
    from evaluation.summary import Score

    folder = ROOT / "eval_configs" / "results"
    rows = list(csv.DictReader((folder / "scores.csv").open()))
    scores = [Score(r["model"], r["task"], r["metric"], float(r["score"]),
                    float(r["std"]) if r["std"] else None, int(r["folds"]), r["grid"] or None)
              for r in rows]
    assert markdown(scores) == (folder / "scores.md").read_text()
    assert markdown(scores).split("\n\n")[0] in (folder / "README.md").read_text()
