"""The command line under faults: unreadable files among good ones, an interrupted run
resumed, a 20-minute file, and files at other sample rates and channel counts."""

import re

import numpy as np
import pytest
import soundfile as sf
import torch

from hear_mixers import cli, get_scene_embeddings, load_model
from test_cli import SR, run, write


def test_bad_files_are_listed_and_the_good_ones_embedded(tmp_path, capsys):
    root = tmp_path / "in"
    write(root / "good1.wav", 1.0, seed=1)
    write(root / "good2.flac", 0.7, seed=2)
    (root / "text.wav").write_text("this is not audio\n")  # a text file renamed .wav
    full = (root / "good1.wav").read_bytes()
    (root / "cut.wav").write_bytes(full[: len(full) // 2])  # a partial copy
    (root / "header.wav").write_bytes(full[:20])  # cut inside the header
    sf.write(root / "empty.wav", np.zeros(0), SR)  # a complete header, no samples
    sf.write(root / "nan.wav", np.array([0.0, np.nan] * 800, np.float32), SR, subtype="FLOAT")
    write(root / "tiny.wav", 1 / 48000, rate=48000)  # 1 sample at 48 kHz: none at 16 kHz
    (root / "dir.wav").mkdir()  # a folder named like audio: not a file, not searched as one

    status, out, err = run(capsys, "embed", root, "--out", tmp_path / "o")
    assert status == 1 and "embedded 2 files" in out and "6 failed" in out
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "_hear_mixers.json", "good1.npy", "good2.npy"]
    reasons = {
        "text.wav": "unreadable audio file: Error opening .*Format not recognised",
        "cut.wav": "truncated WAV file: its header says 32044 bytes, it has 16022",
        "header.wav": "truncated WAV file: its header says 32044 bytes, it has 20$",
        "empty.wav": "audio file holds no samples",
        "nan.wav": "contains NaN or Inf samples",
        "tiny.wav": "too short: 1 samples at 48000 Hz resample to none",
    }
    lines = err.strip().splitlines()
    assert len(lines) == len(reasons)
    for name, reason in reasons.items():
        line = next(line for line in lines if f"{name}:" in line)
        assert line.startswith("failed: ") and re.search(reason, line), line


def test_a_streamed_wav_with_unknown_length_is_read(tmp_path, capsys):
    """Writers that stream set the RIFF size to 0 or 0xFFFFFFFF: not taken for truncation."""
    write(tmp_path / "s.wav", 0.5)
    data = bytearray((tmp_path / "s.wav").read_bytes())
    data[4:8] = b"\xff\xff\xff\xff"
    (tmp_path / "s.wav").write_bytes(bytes(data))
    assert run(capsys, "embed", tmp_path / "s.wav", "--out", tmp_path / "o")[0] == 0


def test_an_interrupted_run_resumes_with_the_missing_files_only(tmp_path, capsys, monkeypatch):
    for i in range(5):
        write(tmp_path / "in" / f"{i}.wav", 0.5, seed=i)
    out = tmp_path / "o"

    # interrupt the run inside the third write, after half of the file's bytes
    real_save, saves = np.save, []

    def save_then_die(f, array):
        saves.append(1)
        if len(saves) == 3:
            f.write(b"\x93NUMPY half a file")
            raise KeyboardInterrupt
        real_save(f, array)

    monkeypatch.setattr(cli.outputs.np, "save", save_then_die)
    status, _, err = run(capsys, "embed", tmp_path / "in", "--out", out)
    monkeypatch.setattr(cli.outputs.np, "save", real_save)
    assert status == 130 and err == (
        "hear-mixers: interrupted after 2 of 5 files; run the same command again to embed the "
        "rest\n")  # one line, no traceback
    done = sorted(p.name for p in out.glob("*.npy"))
    assert done == ["0.npy", "1.npy"]  # only whole files carry the output name
    assert (out / "2.npy.partial").is_file()  # the half-written one kept its temporary name

    # a finished output deleted by hand is redone too
    (out / "0.npy").unlink()
    mtime = (out / "1.npy").stat().st_mtime_ns
    read = []
    real_reader = cli.AudioReader
    monkeypatch.setattr(
        cli, "AudioReader", lambda path, rate: read.append(path.name) or real_reader(path, rate)
    )
    status, text, _ = run(capsys, "embed", tmp_path / "in", "--out", out)
    assert status == 0 and "skipped 1 already there" in text
    assert sorted(read) == ["0.wav", "2.wav", "3.wav", "4.wav"]
    assert (out / "1.npy").stat().st_mtime_ns == mtime
    assert sorted(p.name for p in out.glob("[!_]*")) == [f"{i}.npy" for i in range(5)]  # no .partial
    assert all(np.load(out / f"{i}.npy").shape == (1024,) for i in range(5))


@pytest.mark.slow
def test_a_twenty_minute_file(tmp_path, capsys):
    """20 min at 16 kHz, scene mode, through block 1 of the shipped weights (reading, windowing
    and writing are those of every depth)."""
    g = np.random.default_rng(0)
    sf.write(tmp_path / "long.wav", 0.1 * g.standard_normal(20 * 60 * SR), SR)  # 38 MB PCM_16
    status, _, err = run(capsys, "embed", tmp_path / "long.wav", "--depth", "1", "--out",
                         tmp_path / "o")
    scene = np.load(tmp_path / "o" / "long.npy")
    assert status == 0, err
    assert scene.shape == (1024,) and scene.dtype == np.float32 and np.isfinite(scene).all()


@pytest.fixture(scope="module")
def shipped():
    return load_model()


def test_other_rates_are_resampled_to_the_model_rate(tmp_path, capsys):
    """8 kHz mono and 48 kHz stereo files of 1.5 s give the timestamps of 1.5 s at 16 kHz,
    and nearly the embeddings of the same (band-limited) signal sampled at 16 kHz."""
    t = np.arange(round(1.5 * 48000)) / 48000
    tone = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 1250 * t)  # < 4 kHz
    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / "hi.wav", np.stack([tone, tone], axis=1), 48000, subtype="FLOAT")
    sf.write(tmp_path / "in" / "lo.wav", tone[::6], 8000, subtype="FLOAT")
    sf.write(tmp_path / "in" / "ref.wav", tone[::3], 16000, subtype="FLOAT")
    status, _, _ = run(capsys, "embed", tmp_path / "in", "--timestamps", "--out", tmp_path / "o")
    assert status == 0
    ts = {n: np.load(tmp_path / "o" / f"{n}.timestamps.npy") for n in ("hi", "lo", "ref")}
    assert len(ts["ref"]) == (24000 - 480) // 160 + 1
    assert np.array_equal(ts["hi"], ts["ref"]) and np.array_equal(ts["lo"], ts["ref"])
    emb = {n: np.load(tmp_path / "o" / f"{n}.npy") for n in ("hi", "lo", "ref")}
    for name in ("hi", "lo"):  # the same band-limited tone: the same embeddings, nearly
        # measured max abs difference 5.5e-5 (embedding values up to ~5)
        np.testing.assert_allclose(emb[name], emb["ref"], atol=1e-3, rtol=0)


def test_stereo_is_downmixed_by_averaging_the_channels(tmp_path, capsys, shipped):
    g = np.random.default_rng(5)
    left, right = 0.1 * g.standard_normal((2, SR))
    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / "lr.wav", np.stack([left, right], axis=1), SR, subtype="FLOAT")
    sf.write(tmp_path / "in" / "opposite.wav", np.stack([left, -left], axis=1), SR, subtype="FLOAT")
    status, _, _ = run(capsys, "embed", tmp_path / "in", "--out", tmp_path / "o")
    assert status == 0
    mean = torch.tensor((left + right) / 2, dtype=torch.float32)[None]
    expected = get_scene_embeddings(mean, shipped)[0].numpy()
    np.testing.assert_allclose(np.load(tmp_path / "o" / "lr.npy"), expected, atol=1e-5, rtol=0)
    silence = get_scene_embeddings(torch.zeros(1, SR), shipped)[0].numpy()  # (L - L) / 2 = 0
    np.testing.assert_array_equal(np.load(tmp_path / "o" / "opposite.npy"), silence)
