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
from hear_mixers import cli, get_scene_embeddings, get_timestamp_embeddings
from hear_mixers.kwmlp import load_model
from hear_mixers.models.base import Encoder

pytestmark = pytest.mark.usefixtures("kwmlp_cli")  # embed's default here: KW-MLP
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
    assert written == ["_hear_mixers.json", "a.npy", "c.npy", "sub", "sub/a.npy", "sub/deeper",
                       "sub/deeper/B.npy"]
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


def test_both_writes_scene_frames_and_timestamps_from_one_pass(tmp_path, capsys, shipped,
                                                              monkeypatch):
    samples = write(tmp_path / "x.wav", 2.5)
    windows = []
    real = Encoder.forward_tokens
    monkeypatch.setattr(Encoder, "forward_tokens",
                        lambda self, w, d: windows.append(w.shape[0]) or real(self, w, d))
    status, _, _ = run(capsys, "embed", tmp_path / "x.wav", "--both", "--out", tmp_path / "o")
    assert status == 0 and sum(windows) == 4  # 248 frames, windows of 98 every 66: once
    monkeypatch.undo()
    out = tmp_path / "o"
    scene, frames, ts = (np.load(out / f"x{s}.npy") for s in ("", ".frames", ".timestamps"))
    audio = torch.tensor(samples.T, dtype=torch.float32)
    expected, stamps = get_timestamp_embeddings(audio, shipped)
    assert scene.shape == (1024,) and frames.shape == (248, 64)  # (40000 - 480) // 160 + 1
    np.testing.assert_allclose(frames, expected[0].numpy(), atol=ATOL, rtol=0)
    np.testing.assert_array_equal(ts, stamps[0].numpy())
    np.testing.assert_allclose(scene, get_scene_embeddings(audio, shipped)[0].numpy(),
                               atol=ATOL, rtol=0)
    assert json.loads((out / "_hear_mixers.json").read_text())["mode"] == "both"


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
    assert status == 2 and "mode 'scene' there, 'timestamps' in this run" in err
    # a folder without a manifest (an older version wrote it): each output is checked
    (out / "_hear_mixers.json").unlink()
    status, _, err = run(capsys, "embed", tmp_path / "x.wav", "--timestamps", "--out", out)
    assert status == 1 and "exists with shape (1024,)" in err and "--overwrite" in err
    assert np.array_equal(np.load(out / "x.npy"), scene)


@pytest.mark.parametrize(
    "args, message",
    [
        (["{tmp}/empty"], "no audio files in"),
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


def test_python_m_runs_the_cli_and_another_process_gets_the_same_bits(tmp_path):
    """In a subprocess (not patched) `embed` without --model uses the package's default."""
    samples = write(tmp_path / "x.wav", 1.0)
    root = str(Path(hear_mixers.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [sys.executable, "-m", "hear_mixers.cli", "embed", str(tmp_path / "x.wav"), "--out",
         str(tmp_path / "o")], capture_output=True, text=True, env=env,
    )
    assert done.returncode == 0, done.stderr
    default = hear_mixers.load_model()
    expected = get_scene_embeddings(torch.tensor(samples.T, dtype=torch.float32), default)
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


# ---- the folder search, the manifest, Parquet, progress ------------------------------------


def test_folder_search_takes_every_readable_format_in_any_case(tmp_path, capsys):
    root = tmp_path / "in"
    kinds = {"a.wav": {}, "b.FLAC": {}, "c.oga": {"format": "OGG"}, "d.Opus":
             {"format": "OGG", "subtype": "OPUS", "rate": 48000}, "e.mp3": {"format": "MP3"},
             "f.aiff": {}, "g.AIF": {"format": "AIFF"}, "h.ogg": {}}
    for i, (name, options) in enumerate(kinds.items()):
        write(root / name, 0.5, seed=i, **options)
    (root / "notes.txt").write_text("not audio")
    (root / "cover.png").write_bytes(b"\x89PNG")
    (root / "README").write_text("no suffix")
    status, out, err = run(capsys, "embed", root, "--out", tmp_path / "o")
    assert status == 0, err
    assert f"embedded {len(kinds)} files" in out
    assert "3 files ignored by suffix (" in out and ".txt 1" in out and "(none) 1" in out
    assert sorted(p.name for p in (tmp_path / "o").glob("*.npy")) == [
        f"{n.split('.')[0]}.npy" for n in sorted(kinds)]

    # --ext narrows the search (any case, with or without the dot) ...
    status, out, _ = run(capsys, "embed", root, "--ext", "WAV,.mp3", "--out", tmp_path / "o2")
    assert status == 0 and "embedded 2 files" in out and "9 files ignored by suffix" in out
    # ... or widens it with +: a WAV named .xyz is found beside every readable suffix
    (root / "a.wav").rename(root / "z.xyz")
    status, out, _ = run(capsys, "embed", root, "--ext", "+xyz", "--out", tmp_path / "o3")
    assert status == 0 and f"embedded {len(kinds)} files" in out and "3 files ignored" in out


def test_a_folder_written_by_another_configuration_is_refused(tmp_path, capsys):
    """The issue's trap: kwmlp_d4 (same size as kwmlp) into kwmlp's folder kept depth 12."""
    write(tmp_path / "in" / "x.wav", 0.5)
    out = tmp_path / "o"
    assert run(capsys, "embed", tmp_path / "in", "--out", out)[0] == 0
    first = np.load(out / "x.npy")
    manifest = json.loads((out / "_hear_mixers.json").read_text())
    assert manifest["model"] == "kwmlp" and manifest["depths"] == [12]
    assert manifest["weights_sha256"] == hashlib.sha256(
        (hear_mixers.shipped.weights_dir() / "kwmlp.pt").read_bytes()).hexdigest()
    assert manifest["mode"] == "scene" and manifest["format"] == "npy"
    assert manifest["version"] == hear_mixers.__version__

    status, _, err = run(capsys, "embed", tmp_path / "in", "--model", "kwmlp_d4", "--out", out)
    assert status == 2 and "depths [12] there, [4] in this run" in err and "--overwrite" in err
    assert np.array_equal(np.load(out / "x.npy"), first)
    # the same configuration under another name is no difference: depth 12 is kwmlp_d12
    status, out_text, _ = run(capsys, "embed", tmp_path / "in", "--model", "kwmlp_d12",
                              "--out", out)
    assert status == 0 and "skipped 1 already there" in out_text

    status, _, _ = run(capsys, "embed", tmp_path / "in", "--model", "kwmlp_d4", "--out", out,
                       "--overwrite")
    assert status == 0 and json.loads((out / "_hear_mixers.json").read_text())["depths"] == [4]
    assert not np.array_equal(np.load(out / "x.npy"), first)


def test_the_manifest_records_the_precision_run_in_and_refuses_another(tmp_path, capsys):
    """The general variant's precision "auto" is recorded as what it resolved to here, so a
    run on a CPU that resolves it otherwise is refused instead of mixing bf16 and fp32."""
    from hear_mixers.api import native_bf16_cpu

    write(tmp_path / "in" / "x.wav", 0.5)
    out = tmp_path / "o"
    assert run(capsys, "embed", tmp_path / "in", "--model", "general", "--out", out)[0] == 0
    here = "bf16" if native_bf16_cpu() else "fp32"
    assert json.loads((out / "_hear_mixers.json").read_text())["precision"] == here
    other = "fp32" if here == "bf16" else "bf16"
    status, _, err = run(capsys, "embed", tmp_path / "in", "--model", "general", "--precision",
                         other, "--out", out)
    assert status == 2 and f"precision {here!r} there, {other!r} in this run" in err
    status, _, _ = run(capsys, "embed", tmp_path / "in", "--model", "general", "--precision",
                       other, "--out", out, "--overwrite")
    assert status == 0 and json.loads((out / "_hear_mixers.json").read_text())["precision"] == other


@pytest.mark.parametrize("mode", ["scene", "timestamps", "both"])
def test_parquet_rows_read_back_with_pyarrow_and_pandas(tmp_path, capsys, shipped, mode):
    pq = pytest.importorskip("pyarrow.parquet")
    pd = pytest.importorskip("pandas")
    samples = {f"f{i}": write(tmp_path / "in" / f"f{i}.wav", 0.5 + 0.25 * i, seed=i)
               for i in range(3)}
    write(tmp_path / "in" / "st.wav", 1.0, rate=22050, channels=2, seed=9)
    out = tmp_path / "o"
    status, text, _ = run(capsys, "embed", tmp_path / "in", f"--{mode}", "--format", "parquet",
                          "--out", out)
    assert status == 0 and "embedded 4 files" in text
    shards = sorted(out.glob("part-*.parquet"))
    assert len(shards) == 1 and not list(out.glob(".*partial"))
    table = pq.read_table(shards[0])
    expected = ["name", "path", "duration_s", "sample_rate", "model", "weights_sha256", "depths",
                "embedding"] + {"scene": [], "timestamps": ["timestamps"],
                                "both": ["frames", "timestamps"]}[mode]
    assert table.column_names == expected
    frame = pd.read_parquet(out)  # the folder: every shard
    assert sorted(frame["name"]) == ["f0", "f1", "f2", "st"]
    by_name = frame.set_index("name")
    assert by_name.loc["st", "sample_rate"] == 22050 and by_name.loc["st", "duration_s"] == 1.0
    assert by_name.loc["f1", "sample_rate"] == SR and by_name.loc["f1", "duration_s"] == 0.75
    assert set(frame["model"]) == {"kwmlp"} and all(list(d) == [12] for d in frame["depths"])
    assert by_name.loc["f2", "path"] == str(tmp_path / "in" / "f2.wav")
    for name, audio in samples.items():
        clip = torch.tensor(audio.T, dtype=torch.float32)
        if mode == "both":  # the scene vector, and the frames as in timestamp mode
            got = np.asarray(by_name.loc[name, "embedding"], np.float32)  # (1024,)
            np.testing.assert_allclose(got, get_scene_embeddings(clip, shipped)[0].numpy(),
                                       atol=ATOL, rtol=0)
            got = np.stack(by_name.loc[name, "frames"]).astype(np.float32)  # (T, 64)
            want, stamps = get_timestamp_embeddings(clip, shipped)
            want = want[0].numpy()
            np.testing.assert_array_equal(by_name.loc[name, "timestamps"], stamps[0].numpy())
        elif mode == "scene":
            got = np.asarray(by_name.loc[name, "embedding"], np.float32)  # (1024,)
            want = get_scene_embeddings(clip, shipped)[0].numpy()
        else:
            got = np.stack(by_name.loc[name, "embedding"]).astype(np.float32)  # (T, 64)
            want, stamps = get_timestamp_embeddings(clip, shipped)
            want = want[0].numpy()
            np.testing.assert_array_equal(by_name.loc[name, "timestamps"], stamps[0].numpy())
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=0)


def test_parquet_output_resumes_with_what_is_missing(tmp_path, capsys):
    pq = pytest.importorskip("pyarrow.parquet")
    for i in range(5):
        write(tmp_path / "in" / f"{i}.wav", 0.3, seed=i)
    out = tmp_path / "o"
    args = ["embed", tmp_path / "in", "--format", "parquet", "--out", out]
    assert run(capsys, *args)[0] == 0
    status, text, _ = run(capsys, *args)
    assert status == 0 and "embedded 0 files" in text and "skipped 5 already there" in text
    write(tmp_path / "in" / "5.wav", 0.3, seed=5)  # a new file: only it is embedded
    status, text, _ = run(capsys, *args)
    assert status == 0 and "embedded 1 files" in text and "skipped 5" in text
    names = [n for s in sorted(out.glob("part-*.parquet"))
             for n in pq.read_table(s).column("name").to_pylist()]
    assert sorted(names) == [str(i) for i in range(6)]  # each once
    # npy into a Parquet folder is another configuration
    status, _, err = run(capsys, "embed", tmp_path / "in", "--out", out)
    assert status == 2 and "format 'parquet' there, 'npy' in this run" in err


def test_progress_lines_when_stderr_is_not_a_terminal(tmp_path, capsys):
    for i in range(3):
        write(tmp_path / "in" / f"{i}.wav", 0.3, seed=i)
    status, _, err = run(capsys, "embed", tmp_path / "in", "--progress-interval", "0",
                         "--batch-size", "1", "--out", tmp_path / "o")
    lines = err.strip().splitlines()
    assert status == 0 and len(lines) == 3, err
    for i, line in enumerate(lines, start=1):
        assert re.fullmatch(rf"progress: {i}/3 files, [\d.]+ files/s", line), line
    status, _, err = run(capsys, "embed", tmp_path / "in", "--out", tmp_path / "o2")
    assert status == 0 and err == ""  # the default interval (10 s) is longer than this run


def test_threads_sets_torch_threads(tmp_path, capsys, monkeypatch):
    write(tmp_path / "x.wav", 0.3)
    calls = []
    monkeypatch.setattr(cli.torch, "set_num_threads", calls.append)
    status, _, _ = run(capsys, "embed", tmp_path / "x.wav", "--threads", "3", "--out",
                       tmp_path / "o")
    assert status == 0
    assert run(capsys, "embed", tmp_path / "x.wav", "--out", tmp_path / "o2")[0] == 0
    assert calls == [3, len(os.sched_getaffinity(0))]


@pytest.mark.parametrize("extra, message", [
    (["--address", "127.0.0.1:6379"], "--address and --workers go with --engine ray"),
    (["--workers", "2"], "--address and --workers go with --engine ray"),
    (["--shard-rows", "10"], "--shard-rows goes with --format parquet"),
])
def test_options_of_another_engine_or_format_are_refused(tmp_path, capsys, extra, message):
    sf.write(tmp_path / "a.wav", np.zeros(16000, np.float32), 16000)
    status, _, err = run(capsys, "embed", tmp_path / "a.wav", "--out", tmp_path / "o", *extra)
    assert status == 2 and message in err
