"""`hear-mixers embed --engine ray` on a small local Ray instance (2 CPUs, a 200 MB object
store, no dashboard): the embeddings of the single-process path, a worker and an actor
killed mid-run without loss or duplicates, resuming, and a pyarrow filesystem URI."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from conftest import default_sigint
from test_cli import SR, run, write

ray = pytest.importorskip("ray")
pq = pytest.importorskip("pyarrow.parquet")

from hear_mixers import ray_engine  # noqa: E402
from hear_mixers.api import native_bf16_cpu  # noqa: E402
from hear_mixers.outputs import MANIFEST  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("kwmlp_cli")]  # embed: KW-MLP


@pytest.fixture(scope="module")
def local_ray():
    root = os.path.dirname(os.path.dirname(os.path.abspath(ray_engine.__file__)))
    ray.init(num_cpus=2, object_store_memory=200 << 20, include_dashboard=False,
             runtime_env={"env_vars": {"PYTHONPATH": root, "OMP_NUM_THREADS": "1"}})
    yield
    ray.shutdown()


def rows(folder) -> dict:
    """name -> row (a dict) over every shard of `folder`; fails on a duplicate name."""
    found = {}
    for shard in sorted(folder.glob("part-*.parquet")):
        for row in pq.read_table(shard).to_pylist():
            assert row["name"] not in found, f"{row['name']} twice"
            found[row["name"]] = row
    return found


def corpus(root, count: int, seed: int = 0):
    """`count` short files of a few lengths, rates and channel counts."""
    for i in range(count):
        write(root / f"f{seed + i:02d}.wav", [0.5, 1.0, 0.7][i % 3],
              rate=[SR, 22050, 8000][i % 3], channels=1 + i % 2, seed=seed + i)


def test_ray_gives_the_embeddings_of_the_single_process_path(tmp_path, capsys, local_ray):
    corpus(tmp_path / "in", 6)
    write(tmp_path / "in" / "long.wav", 125.0, seed=50)  # over LONG_SECONDS: the actor streams
    (tmp_path / "in" / "bad.wav").write_text("not audio")
    local, remote = tmp_path / "local", tmp_path / "ray"
    status, _, _ = run(capsys, "embed", tmp_path / "in", "--timestamps", "--format", "parquet",
                       "--out", local)
    assert status == 1  # bad.wav
    status, out, err = run(capsys, "embed", tmp_path / "in", "--timestamps", "--engine", "ray",
                           "--workers", "1", "--batch-size", "3", "--out", remote)
    assert status == 1 and "embedded 7 files" in out and "1 failed" in out
    assert "bad.wav: unreadable audio file" in err
    mine, theirs = rows(local), rows(remote)
    assert sorted(mine) == sorted(theirs) == sorted([f"f{i:02d}" for i in range(6)] + ["long"])
    for name, row in mine.items():
        other = theirs[name]
        for key in ("path", "duration_s", "sample_rate", "model", "weights_sha256", "depths",
                    "timestamps"):
            assert row[key] == other[key], (name, key)
        np.testing.assert_allclose(np.array(other["embedding"]), np.array(row["embedding"]),
                                   atol=1e-5, rtol=0)  # batches may differ (test_determinism)
    assert len(theirs["long"]["timestamps"]) == (125 * SR - 480) // 160 + 1


def test_killed_worker_and_actor_lose_and_duplicate_nothing(tmp_path, capsys, local_ray,
                                                           monkeypatch):
    corpus(tmp_path / "in", 12)
    reference = tmp_path / "reference"
    assert run(capsys, "embed", tmp_path / "in", "--format", "parquet", "--out", reference)[0] == 0
    actor, decoder = tmp_path / "actor.killed", tmp_path / "decoder.killed"
    monkeypatch.setenv(ray_engine.KILL_ACTOR_ENV, str(actor))
    monkeypatch.setenv(ray_engine.KILL_DECODER_ENV, str(decoder))
    out = tmp_path / "ray"
    status, text, err = run(capsys, "embed", tmp_path / "in", "--engine", "ray", "--workers",
                            "1", "--batch-size", "2", "--shard-rows", "4", "--out", out)
    assert status == 0 and "embedded 12 files" in text, err
    assert actor.is_file() and decoder.is_file()  # each killed itself once, mid-run (SIGKILL)
    got, want = rows(out), rows(reference)  # rows(): no name twice
    assert sorted(got) == sorted(want) and len(got) == 12
    for name in want:
        np.testing.assert_allclose(np.array(got[name]["embedding"]),
                                   np.array(want[name]["embedding"]), atol=1e-5, rtol=0)

    # resumable: two new files, the folder given as a URI (pyarrow's filesystem)
    monkeypatch.delenv(ray_engine.KILL_ACTOR_ENV)
    monkeypatch.delenv(ray_engine.KILL_DECODER_ENV)
    corpus(tmp_path / "in", 2, seed=40)
    status, text, _ = run(capsys, "embed", f"file://{tmp_path / 'in'}", "--engine", "ray",
                          "--workers", "1", "--out", out)
    assert status == 0 and "embedded 2 files" in text and "skipped 12 already there" in text
    after = rows(out)
    assert sorted(after) == sorted(list(got) + ["f40", "f41"])
    assert after["f40"]["path"] == f"file://{tmp_path / 'in' / 'f40.wav'}"


def test_ctrl_c_through_address_stops_with_one_line_and_resumes(tmp_path, local_ray):
    """The command in a subprocess, connected to this module's instance with --address
    (token authentication: RAY_AUTH_MODE=token), interrupted with SIGINT after 6 files."""
    corpus(tmp_path / "in", 30)
    env = {**os.environ, "RAY_AUTH_MODE": "token",
           "PYTHONPATH": os.pathsep.join([os.path.dirname(os.path.dirname(
               os.path.abspath(ray_engine.__file__))), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "hear_mixers.cli", "embed", str(tmp_path / "in"),
               "--model", "kwmlp", "--engine", "ray",
               "--address", ray.get_runtime_context().gcs_address, "--workers", "1",
               "--batch-size", "2", "--shard-rows", "4", "--progress-interval", "0",
               "--out", str(tmp_path / "o")]
    child = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True, env=env, preexec_fn=default_sigint)
    for line in child.stderr:
        if line.startswith("progress: 6/"):
            break
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 130 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("hear-mixers: interrupted after ")
    done = rows(tmp_path / "o")
    assert len(done) >= 6  # the rows in hand were written
    rerun = subprocess.run(command, capture_output=True, text=True, env=env)
    assert rerun.returncode == 0, rerun.stderr
    assert f"embedded {30 - len(done)} files" in rerun.stdout
    assert sorted(rows(tmp_path / "o")) == [f"f{i:02d}" for i in range(30)]  # each once


def test_ray_runs_an_auto_precision_variant_as_the_single_process_path(tmp_path, capsys,
                                                                      local_ray):
    """`asm` defaults to precision "auto": the driver resolves it once (bf16 on a CPU with
    native bf16, else fp32) and every actor runs in that precision, as the local path does."""
    corpus(tmp_path / "in", 3)
    local, remote = tmp_path / "local", tmp_path / "ray"
    common = ("--model", "asm", "--format", "parquet")
    assert run(capsys, "embed", tmp_path / "in", *common, "--out", local)[0] == 0
    status, out, _ = run(capsys, "embed", tmp_path / "in", *common, "--engine", "ray",
                         "--workers", "1", "--batch-size", "2", "--out", remote)
    assert status == 0 and "embedded 3 files" in out
    want = "bf16" if native_bf16_cpu() else "fp32"
    for folder in (local, remote):
        assert json.loads((folder / MANIFEST).read_text())["precision"] == want
    mine, theirs = rows(local), rows(remote)
    assert sorted(mine) == sorted(theirs) == ["f00", "f01", "f02"]
    for name, row in mine.items():
        a, b = np.array(row["embedding"]), np.array(theirs[name]["embedding"])
        # bf16 against fp32 differs by ~0.4 % relative RMS; the same precision in other
        # batches by far less
        assert np.linalg.norm(a - b) / np.linalg.norm(a) < 1e-3, name
