"""The `hear-mixers` command line: embed (outputs, names, modes, models, batching, skipping)
and info. Faults (unreadable files, interruptions, long files, other rates) are in
test_faults.py."""

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import hear_mixers
import hear_mixers.kwmlp
import hear_mixers.shipped
from hear_mixers import cli, get_scene_embeddings, get_timestamp_embeddings, load_model

SR = 16000
ATOL = 1e-5  # a file embedded in a batch vs alone (see test_determinism.py)


def write(path: Path, seconds: float, rate: int = SR, channels: int = 1, seed: int = 0, **kw):
    """A noise file; returns its samples (N, C) as written (float64, PCM_16-rounded)."""
    g = np.random.default_rng(seed)
    data = 0.1 * g.standard_normal((round(seconds * rate), channels))
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, data, rate, **kw)
    return sf.read(path, always_2d=True)[0]


def run(capsys, *args):
    """hear-mixers ARGS in this process -> (exit status, stdout, stderr)."""
    status = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def shipped():
    return load_model()


@pytest.fixture
def tree(tmp_path):
    """in/a.wav, in/sub/a.flac (same stem, other folder), in/sub/deeper/B.WAV, in/c.ogg, and a
    text file that the folder search ignores."""
    root = tmp_path / "in"
    audio = {
        "a": write(root / "a.wav", 1.0, seed=1),
        "sub/a": write(root / "sub" / "a.flac", 1.0, seed=2),
        "sub/deeper/B": write(root / "sub" / "deeper" / "B.WAV", 0.6, seed=3),
        "c": write(root / "c.ogg", 1.2, seed=4),
    }
    (root / "notes.txt").write_text("not audio")
    return root, audio


def test_scene_outputs_mirror_the_input_tree(tmp_path, capsys, tree, shipped):
    root, audio = tree
    status, out, err = run(capsys, "embed", root, "--out", tmp_path / "out")
    assert status == 0 and "embedded 4 files" in out and err == ""
    written = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*"))
    assert written == ["a.npy", "c.npy", "sub", "sub/a.npy", "sub/deeper", "sub/deeper/B.npy"]
    for name, samples in audio.items():
        scene = np.load(tmp_path / "out" / f"{name}.npy")
        assert scene.shape == (1024,) and scene.dtype == np.float32
        if name != "c":  # ogg is lossy: its decoded samples are not those written
            expected = get_scene_embeddings(torch.tensor(samples.T, dtype=torch.float32), shipped)
            np.testing.assert_allclose(scene, expected[0].numpy(), atol=ATOL, rtol=0)


def test_timestamp_outputs(tmp_path, capsys, shipped):
    samples = write(tmp_path / "x.wav", 1.5)
    status, _, _ = run(capsys, "embed", tmp_path / "x.wav", "--timestamps", "--out", tmp_path / "o")
    emb, ts = np.load(tmp_path / "o" / "x.npy"), np.load(tmp_path / "o" / "x.timestamps.npy")
    assert status == 0 and emb.shape == (148, 64) and ts.shape == (148,)  # (24000-480)//160+1
    assert emb.dtype == ts.dtype == np.float32
    assert ts[0] == 15.0 and np.all(np.diff(ts) == 10.0)  # milliseconds
    expected, _ = get_timestamp_embeddings(torch.tensor(samples.T, dtype=torch.float32), shipped)
    np.testing.assert_allclose(emb, expected[0].numpy(), atol=ATOL, rtol=0)
    assert not (tmp_path / "o" / "x.scene.npy").exists()


@pytest.mark.parametrize(
    "options, size",
    [(["--depth", "4"], 64), (["--model", "kwmlp_d4"], 64), (["--depth", "4,12"], 128)],
)
def test_depth_and_variant_choose_the_block(tmp_path, capsys, options, size):
    samples = write(tmp_path / "x.wav", 1.0)
    status, _, _ = run(capsys, "embed", tmp_path / "x.wav", "--timestamps", "--out",
                       tmp_path / "o", *options)
    emb = np.load(tmp_path / "o" / "x.npy")
    assert status == 0 and emb.shape == (98, size)
    expected, _ = get_timestamp_embeddings(
        torch.tensor(samples.T, dtype=torch.float32), load_model(depth=[4, 12][: size // 64])
    )
    np.testing.assert_allclose(emb, expected[0].numpy(), atol=ATOL, rtol=0)


def test_model_can_be_a_checkpoint_file(tmp_path, capsys, checkpoint, model):
    samples = write(tmp_path / "x.wav", 1.0)
    status, _, _ = run(capsys, "embed", tmp_path / "x.wav", "--model", checkpoint, "--out",
                       tmp_path / "o")
    expected = get_scene_embeddings(torch.tensor(samples.T, dtype=torch.float32), model)
    assert status == 0
    np.testing.assert_allclose(np.load(tmp_path / "o" / "x.npy"), expected[0].numpy(),
                               atol=ATOL, rtol=0)


def test_every_variant_name_is_a_module():
    for name in cli.VARIANTS:
        module = __import__(f"hear_mixers.{name}", fromlist=["load_model"])
        assert callable(module.load_model) and callable(module.get_scene_embeddings)


def test_same_length_files_share_batches_of_bounded_size(tmp_path, capsys, monkeypatch):
    for i in range(5):
        write(tmp_path / "in" / f"one{i}.wav", 1.0, seed=i)
    for i in range(2):
        write(tmp_path / "in" / f"half{i}.wav", 0.5, seed=10 + i)
    write(tmp_path / "in" / "long.wav", 3.0)
    calls = []
    real = hear_mixers.api.get_scene_embeddings
    monkeypatch.setattr(hear_mixers.kwmlp, "get_scene_embeddings",
                        lambda audio, model: calls.append(tuple(audio.shape)) or real(audio, model))
    monkeypatch.setattr(cli, "MAX_BATCH_SECONDS", 4.5)  # the 3 s file cannot join a batch
    status, out, _ = run(capsys, "embed", tmp_path / "in", "--batch-size", "4", "--out",
                         tmp_path / "o")
    assert status == 0 and "embedded 8 files" in out
    # by duration: [0.5, 0.5, 1, 1] (two lengths: two forwards), [1, 1, 1], [3]
    assert calls == [(2, 8000), (2, 16000), (3, 16000), (1, 48000)]


def test_existing_outputs_are_skipped_unless_overwrite(tmp_path, capsys):
    for i in range(3):
        write(tmp_path / "in" / f"{i}.wav", 0.5, seed=i)
    out = tmp_path / "o"
    assert run(capsys, "embed", tmp_path / "in", "--out", out)[0] == 0
    os.utime(out / "1.npy", (1, 1))  # mark: an untouched output keeps this mtime
    status, text, _ = run(capsys, "embed", tmp_path / "in", "--out", out)
    assert status == 0 and "embedded 0 files" in text and "skipped 3" in text
    assert (out / "1.npy").stat().st_mtime == 1
    status, text, _ = run(capsys, "embed", tmp_path / "in", "--out", out, "--overwrite")
    assert status == 0 and "embedded 3 files" in text and (out / "1.npy").stat().st_mtime > 1


def test_outputs_of_the_other_mode_are_not_replaced(tmp_path, capsys):
    write(tmp_path / "x.wav", 0.5)
    out = tmp_path / "o"
    run(capsys, "embed", tmp_path / "x.wav", "--out", out)  # scene: x.npy is (1024,)
    scene = np.load(out / "x.npy")
    status, _, err = run(capsys, "embed", tmp_path / "x.wav", "--timestamps", "--out", out)
    assert status == 1 and "exists with shape (1024,)" in err and "--overwrite" in err
    assert np.array_equal(np.load(out / "x.npy"), scene)


@pytest.mark.parametrize(
    "args, message",
    [
        (["{tmp}/empty"], "no .wav/.flac/.ogg files in"),
        (["{tmp}/missing.wav"], "no such file or folder"),
        (["{tmp}/in", "--model", "kwmlp_d5"], "unknown model 'kwmlp_d5'.*kwmlp_d4"),
        (["{tmp}/in", "--depth", "13"], r"cannot load model 'kwmlp'.*depth must be in 1\.\.12"),
        (["{tmp}/in", "{tmp}/in/x.wav"], "both be written as x.npy"),
        (["{tmp}/clash"], "both be written as y.npy"),
        (["{tmp}/in", "--model", "{tmp}/in/x.wav"], "cannot load model.*not a readable torch"),
    ],
    ids=["no-files", "missing-path", "bad-model", "bad-depth", "same-name", "same-stem",
         "not-a-checkpoint"],
)
def test_usage_errors_exit_2_with_a_message(tmp_path, capsys, args, message):
    (tmp_path / "empty").mkdir()
    write(tmp_path / "in" / "x.wav", 0.2)
    write(tmp_path / "clash" / "y.wav", 0.2)
    write(tmp_path / "clash" / "y.flac", 0.2)
    args = [a.format(tmp=tmp_path) for a in args]
    status, out, err = run(capsys, "embed", *args, "--out", tmp_path / "o")
    assert status == 2 and err.startswith("hear-mixers: error: ")
    assert re.search(message, err), err
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_without_a_gpu_is_a_usage_error(tmp_path, capsys):
    write(tmp_path / "x.wav", 0.2)
    status, _, err = run(capsys, "embed", tmp_path / "x.wav", "--device", "cuda", "--out", tmp_path)
    assert status == 2 and "no CUDA device" in err


@pytest.mark.parametrize("args", [["embed", "x.wav"], ["embed", "x.wav", "--out", "o",
                                  "--batch-size", "0"], ["embed", "--out", "o"], []])
def test_argument_errors_exit_2(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(args)
    assert exit_info.value.code == 2 and "usage: hear-mixers" in capsys.readouterr().err


def test_python_m_runs_the_cli_and_another_process_gets_the_same_bits(tmp_path, shipped):
    samples = write(tmp_path / "x.wav", 1.0)
    root = str(Path(hear_mixers.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [sys.executable, "-m", "hear_mixers.cli", "embed", str(tmp_path / "x.wav"), "--out",
         str(tmp_path / "o")], capture_output=True, text=True, env=env,
    )
    assert done.returncode == 0, done.stderr
    expected = get_scene_embeddings(torch.tensor(samples.T, dtype=torch.float32), shipped)
    assert np.array_equal(np.load(tmp_path / "o" / "x.npy"), expected[0].numpy())  # bitwise


def test_info_lists_variants_weights_and_model_card(capsys):
    status, out, _ = run(capsys, "info")
    assert status == 0
    for name in cli.VARIANTS:
        assert f"  {name} " in out
    assert "depth 4 " in out and "424,811 parameters" in out and "scene embedding 1024" in out
    assert "kwmlp.pt  1.7 MB  sha256 ok" in out
    card = json.loads((hear_mixers.shipped.weights_dir() / "kwmlp.eval.json").read_text())
    assert f"test_acc_clean {card['test_acc_clean']:.3f}" in out
    assert "another version" not in out  # the card was measured on this very file


def test_info_reports_a_corrupted_weight_file(tmp_path, capsys, monkeypatch):
    real = hear_mixers.shipped.weights_dir()
    for name in ("SHA256SUMS", "kwmlp.eval.json"):
        (tmp_path / name).write_bytes((real / name).read_bytes())
    data = bytearray((real / "kwmlp.pt").read_bytes())
    data[-100] ^= 0xFF
    (tmp_path / "kwmlp.pt").write_bytes(bytes(data))
    monkeypatch.setattr(hear_mixers.shipped, "weights_dir", lambda: tmp_path)
    monkeypatch.setattr(cli, "weights_dir", lambda: tmp_path)
    status, out, _ = run(capsys, "info")
    assert status == 0
    assert "kwmlp.pt  1.7 MB  sha256 MISMATCH" in out
    assert "kwmlp      not available:" in out and "sha256 check failed" in out
    assert "measured on another version of this file" in out
    assert hashlib.sha256(bytes(data)).hexdigest() in out  # the error names the actual hash


def test_variants_lists_the_registry(capsys):
    from hear_mixers.variants import markdown_table, modules

    status, out, _ = run(capsys, "variants")
    assert status == 0 and out.split() == modules()
    status, out, _ = run(capsys, "variants", "--markdown")
    assert status == 0 and out.strip() == markdown_table()
