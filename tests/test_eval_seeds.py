"""evaluation/seeds.py (a suite run scored again under other probe seeds) and the
`--probe-seed` of hear_compat.predictions."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from evaluation import seeds
from evaluation.summary import SCORES_FILE

sys.path.insert(0, str(Path(__file__).parent))
from test_eval_runner import write_heareval_scores, write_metadata  # noqa: E402

needs_compat = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("heareval", "hear_compat")),
    reason="needs heareval and tools/hear_compat")


def write_suite(output: Path, scores: dict[str, float], grid: str = "default") -> None:
    """A finished suite run of the models in `scores` on one task, as evaluation.run leaves it."""
    task_dir = output / "tasks" / "kw-v1-full"
    (output / "state").mkdir(parents=True, exist_ok=True)
    (output / "state" / "task-kw.json").write_text(json.dumps({"path": str(task_dir)}))
    for model, value in scores.items():
        folder = output / "embeddings" / model / f"hear_mixers.{model}" / "kw-v1-full"
        write_metadata(folder, "kw", ["top1_acc"], "trainvaltest", ["train", "valid", "test"])
        (folder / "test.embeddings.npy").write_bytes(b"\0" * 16)
        write_heareval_scores(folder, {"test": {"test_top1_acc": value}})
        (output / "state" / f"predicted-{model}-kw.json").write_text(json.dumps({"grid": grid}))


def fake_predictions(calls: list, score: dict):
    """Stands in for the heareval runner: writes a score that depends on model and seed."""
    def run(cmd, stdout=None, stderr=None, env=None):
        folder, seed = Path(cmd[3]), int(cmd[cmd.index("--probe-seed") + 1])
        calls.append((cmd, env["OMP_NUM_THREADS"]))
        model = folder.parts[-3]
        write_heareval_scores(folder, {"test": {"test_top1_acc": score[model] + 0.01 * seed}})
        return subprocess.CompletedProcess(cmd, 0)
    return run


def test_scores_each_seed_on_links_and_compares_seed_by_seed(tmp_path, monkeypatch, capsys):
    write_suite(tmp_path, {"a": 0.50, "b": 0.47})
    calls = []
    monkeypatch.setattr(seeds.subprocess, "run", fake_predictions(calls, {"a": 0.5, "b": 0.48}))
    seeds.main([str(tmp_path), "--models", "a", "b", "--seeds", "42", "1", "2", "--baseline", "a"])
    # seed 42 is the suite's own scoring: only seeds 1 and 2 ran, with the suite's grid
    assert sorted(c[0][c[0].index("--probe-seed") + 1] for c in calls) == ["1", "1", "2", "2"]
    assert all(c[0][c[0].index("--grid") + 1] == "default" for c in calls)
    linked = tmp_path / "seeds" / "b" / "seed-1" / "kw-v1-full"
    assert (linked / "test.embeddings.npy").is_symlink()
    assert (linked / SCORES_FILE).exists()  # the new scores, not a link to the suite's
    assert not (linked / SCORES_FILE).is_symlink()
    table = (tmp_path / "seeds" / "scores.md").read_text()
    # a: 0.50, 0.51, 0.52; b: 0.47, 0.49, 0.50; b - a per seed: -0.03, -0.02, -0.02
    assert "| kw | 0.510 (0.010, 3) | 0.487 (0.015, 3) | -0.023 [-0.030, -0.020] |" in table
    assert table.strip() in capsys.readouterr().out
    calls.clear()
    seeds.main([str(tmp_path), "--models", "a", "b", "--seeds", "1", "2"])
    assert calls == []  # finished scorings are reused


def test_rejects_models_without_a_suite_run_and_unknown_tasks(tmp_path):
    write_suite(tmp_path, {"a": 0.5})
    with pytest.raises(SystemExit, match="no scored suite run of model 'c'"):
        seeds.main([str(tmp_path), "--models", "a", "c", "--seeds", "1"])
    with pytest.raises(SystemExit, match=r"tasks \['pitch'\] are not scored"):
        seeds.main([str(tmp_path), "--models", "a", "--seeds", "1", "--tasks", "pitch"])
    with pytest.raises(SystemExit, match="--baseline 'b' is not one of --models"):
        seeds.main([str(tmp_path), "--models", "a", "--seeds", "1", "--baseline", "b"])


def test_a_failed_scoring_names_model_task_seed_and_log(tmp_path, monkeypatch):
    write_suite(tmp_path, {"a": 0.5})
    monkeypatch.setattr(seeds.subprocess, "run",
                        lambda cmd, **kw: subprocess.CompletedProcess(cmd, 1))
    with pytest.raises(RuntimeError, match=r"predictions for a on kw, seed 3 failed .*seed-3/kw-v1-full.log"):
        seeds.main([str(tmp_path), "--models", "a", "--seeds", "3"])


@needs_compat
def test_probe_seed_replaces_heareval_s_fixed_seed(monkeypatch):
    from heareval.predictions import task_predictions

    import hear_compat
    from hear_compat.predictions import pop_probe_seed

    used = []
    monkeypatch.setattr(task_predictions, "seed_everything", lambda s, workers=False: used.append(s))
    hear_compat.probe_seed(7)
    hear_compat.probe_seed(8)  # a second call replaces the first, it does not stack
    task_predictions.seed_everything(42, workers=False)  # heareval's call
    assert used == [8]
    argv = ["prog", "dir", "--grid", "fast", "--probe-seed", "3"]
    assert pop_probe_seed(argv) == 3 and argv == ["prog", "dir", "--grid", "fast"]
    assert pop_probe_seed(argv) is None
    with pytest.raises(SystemExit, match="--probe-seed needs an integer"):
        pop_probe_seed(["prog", "--probe-seed", "x"])
