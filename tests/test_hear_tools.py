"""heareval's embedding runner on tiny tasks that the test writes (needs the [eval] tools)."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hear_mixers

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("heareval") is None, reason="heareval is not installed"
)
sf = pytest.importorskip("soundfile")
pd = pytest.importorskip("pandas")


def write_task(root: Path, name: str, embedding_type: str, seconds: float, labels: dict) -> None:
    task = root / name
    rng = np.random.default_rng(0)
    meta = {
        "task_name": name, "version": "v1", "embedding_type": embedding_type,
        "prediction_type": "multilabel" if embedding_type == "event" else "multiclass",
        "split_mode": "trainvaltest", "sample_duration": seconds,
        "evaluation": ["top1_acc"], "mode": "tiny", "splits": ["train", "test"],
    }
    (task / "16000").mkdir(parents=True)
    (task / "task_metadata.json").write_text(json.dumps(meta))
    (task / "labelvocabulary.csv").write_text("idx,label\n0,beep\n1,hum\n")
    for split in meta["splits"]:
        (task / "16000" / split).mkdir()
        (task / f"{split}.json").write_text(json.dumps(labels))
        for file in labels:
            audio = 0.1 * rng.standard_normal(int(seconds * 16000)).astype(np.float32)
            sf.write(task / "16000" / split / file, audio, 16000)


def test_embedding_runner_with_model_options(tmp_path, checkpoint):
    tasks, out = tmp_path / "tasks", tmp_path / "embeddings"
    write_task(tasks, "tiny_scene-v1-full", "scene", 1.0, {"a.wav": ["beep"], "b.wav": ["hum"]})
    event = [{"label": "beep", "start": 200.0, "end": 700.0}]
    write_task(tasks, "tiny_event-v1-full", "event", 2.5, {"c.wav": event, "d.wav": []})
    env = {**os.environ, "PYTHONPATH": str(Path(hear_mixers.__file__).parents[1])}
    cmd = [
        sys.executable, "-m", "heareval.embeddings.runner", "hear_mixers", "--model", checkpoint,
        "--tasks-dir", str(tasks), "--task", "all", "--embeddings-dir", str(out),
        "--model-options", json.dumps({"depth": [4, 8]}),
    ]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]

    done = out / "hear_mixers-depth=4-8"  # heareval names the folder after the options
    scene, event = done / "tiny_scene-v1-full", done / "tiny_event-v1-full"
    assert (scene / ".done.embeddings").exists() and (event / ".done.embeddings").exists()
    assert json.loads((scene / "test.embedding-dimensions.json").read_text()) == [2, 2048]
    # event: 2 files x 248 frames ((40000 - 480) // 160 + 1) of 2 x 64 dims
    assert json.loads((event / "test.embedding-dimensions.json").read_text()) == [496, 128]
    stamps = json.loads((event / "test.filename-timestamps.json").read_text())
    labels = pd.read_pickle(event / "test.target-labels.pkl")
    c = [(t, lab) for (f, t), lab in zip(stamps, labels) if f.endswith("c.wav")]
    assert [t for t, _ in c] == [15.0 + 10 * k for k in range(248)]  # milliseconds
    assert [t for t, lab in c if lab == ["beep"]] == [205.0 + 10 * k for k in range(50)]
