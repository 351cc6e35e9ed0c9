"""The command line under faults: unreadable files among good ones, an interrupted run
resumed, a 20-minute file, and files at other sample rates and channel counts."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch

from hear_mixers import cli, get_scene_embeddings, get_timestamp_embeddings, streaming
from hear_mixers.audio_io import AudioReader
from hear_mixers.kwmlp import load_model
from conftest import default_sigint
from test_cli import SR, run, write

pytestmark = pytest.mark.usefixtures("kwmlp_cli")  # embed's default here: KW-MLP


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
    # no .partial left
    assert sorted(p.name for p in out.glob("[!_]*")) == [f"{i}.npy" for i in range(5)]
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


# ---- long files: read, resampled and embedded in pieces -----------------------------------


def _whole(path, rate=SR) -> np.ndarray:
    """The reference reading: the whole file at once, channels averaged, soxr on the whole."""
    data, file_rate = sf.read(path, dtype="float32", always_2d=True)
    mono = data.mean(axis=1, dtype=np.float32)
    return soxr.resample(mono, file_rate, rate, quality="HQ") if file_rate != rate else mono


@pytest.mark.parametrize("windows", [1, 3])
def test_pieces_give_the_frames_of_the_whole_clip(shipped, windows):
    """Lengths around the piece boundaries, fed in odd blocks: the frames and the scene
    embedding equal those of one call on the whole clip (measured: bitwise on this CPU)."""
    stream = streaming.FrameStream(shipped, windows)
    piece = stream.piece_samples
    g = np.random.default_rng(windows)
    for n in [100, piece - 1, piece, piece + 159, piece + 160, 3 * piece + 3001]:
        audio = (0.1 * g.standard_normal(n)).astype(np.float32)
        blocks = [audio[i:i + 7001] for i in range(0, n, 7001)]
        frames, stamps = get_timestamp_embeddings(torch.from_numpy(audio)[None], shipped)
        got = streaming.embed_blocks(blocks, shipped, "timestamps", windows=windows)
        assert got["embedding"].shape == frames[0].shape, n
        np.testing.assert_allclose(got["embedding"], frames[0].numpy(), atol=1e-6, rtol=0)
        np.testing.assert_array_equal(got["timestamps"], stamps[0].numpy())
        scene = streaming.embed_blocks(blocks, shipped, "scene", windows=windows)["embedding"]
        want = get_scene_embeddings(torch.from_numpy(audio)[None], shipped)[0].numpy()
        np.testing.assert_allclose(scene, want, atol=1e-6, rtol=0)


@pytest.mark.slow
def test_a_long_file_is_streamed_with_the_embeddings_of_the_whole_file(tmp_path, capsys,
                                                                       shipped, monkeypatch):
    """40 s of 44.1 kHz stereo, streamed (LONG_SECONDS lowered) in pieces of 5 windows: the
    CLI's outputs equal the whole file read at once, resampled and embedded in one call."""
    monkeypatch.setattr(cli, "LONG_SECONDS", 5.0)
    monkeypatch.setattr(streaming, "PIECE_WINDOWS", 5)
    pieces = []
    real = streaming.get_timestamp_embeddings
    monkeypatch.setattr(streaming, "get_timestamp_embeddings",
                        lambda a, m: pieces.append(a.shape[1]) or real(a, m))
    write(tmp_path / "long.wav", 40.0, rate=44100, channels=2, subtype="FLOAT")
    whole = torch.from_numpy(_whole(tmp_path / "long.wav"))[None]  # (1, 640000)
    frames, stamps = get_timestamp_embeddings(whole, shipped)
    scene = get_scene_embeddings(whole, shipped)
    for mode in ("timestamps", "scene", "both"):
        status, _, err = run(capsys, "embed", tmp_path / "long.wav", f"--{mode}", "--out",
                             tmp_path / mode, "--progress-interval", "0")
        assert status == 0 and "long: " in err  # progress inside the file
    # 3998 frames: 12 pieces keep 5 * 66 frames each, the tail the rest; once per mode
    assert len(pieces) == 3 * 13 and max(pieces) < whole.shape[1] / 10
    np.testing.assert_allclose(np.load(tmp_path / "timestamps" / "long.npy"), frames[0].numpy(),
                               atol=1e-6, rtol=0)
    np.testing.assert_array_equal(np.load(tmp_path / "timestamps" / "long.timestamps.npy"),
                                  stamps[0].numpy())
    np.testing.assert_allclose(np.load(tmp_path / "scene" / "long.npy"), scene[0].numpy(),
                               atol=1e-6, rtol=0)
    for mine, theirs in (("long.npy", "scene/long.npy"), ("long.frames.npy", "timestamps/long.npy"),
                         ("long.timestamps.npy", "timestamps/long.timestamps.npy")):
        np.testing.assert_array_equal(np.load(tmp_path / "both" / mine), np.load(tmp_path / theirs))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_long_file_in_pieces_on_cuda(tmp_path, capsys, monkeypatch):
    """The CLI on CUDA, a file streamed in pieces of 2 windows, against one whole-clip call
    on CUDA (another chunking of the windows: cuBLAS may differ in the last bits)."""
    monkeypatch.setattr(cli, "LONG_SECONDS", 2.0)
    monkeypatch.setattr(streaming, "PIECE_WINDOWS", 2)
    write(tmp_path / "x.wav", 12.0, rate=44100, channels=2, subtype="FLOAT")
    status, _, err = run(capsys, "embed", tmp_path / "x.wav", "--timestamps", "--device", "cuda",
                         "--out", tmp_path / "o")
    assert status == 0, err
    model = load_model().to("cuda")
    frames, _ = get_timestamp_embeddings(torch.from_numpy(_whole(tmp_path / "x.wav"))[None], model)
    np.testing.assert_allclose(np.load(tmp_path / "o" / "x.npy"), frames[0].cpu().numpy(),
                               atol=1e-4, rtol=0)


def test_blocks_are_the_whole_file_resampled(tmp_path):
    """soxr's stream over blocks gives the samples of resampling the whole file at once."""
    write(tmp_path / "x.wav", 7.3, rate=44100, channels=2, subtype="FLOAT")
    reader = AudioReader(tmp_path / "x.wav", SR)
    blocks = list(reader.blocks(block_frames=10_000))
    assert len(blocks) > 30 and reader.rate == 44100 and reader.channels == 2
    np.testing.assert_array_equal(np.concatenate(blocks), _whole(tmp_path / "x.wav"))
    assert reader.output_samples() == sum(map(len, blocks))
    for rate, frames in [(32000, 1001), (32000, 123457), (11025, 44099), (48000, 7)]:
        # the expected length (frames to allocate for a long file) is soxr's, halves included
        sf.write(tmp_path / "y.wav", np.zeros(frames), rate)
        reader = AudioReader(tmp_path / "y.wav", SR)
        assert reader.output_samples() == len(reader.read()), (rate, frames)


def _peak_rss_mb(args) -> tuple:
    """hear-mixers ARGS in a child process -> (peak RSS in MB, stderr). The peak is the child's
    VmHWM: ru_maxrss would also count the forked copy of this (large) pytest process, which
    Linux carries across exec."""
    code = ("import re, sys; from hear_mixers import cli; status = cli.main(sys.argv[1:]); "
            "hwm = re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read()).group(1); "
            "print('PEAK', hwm, file=sys.stderr); sys.exit(status)")
    done = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          text=True, env=_env())
    assert done.returncode == 0, done.stderr[-3000:]
    return int(re.search(r"PEAK (\d+)", done.stderr).group(1)) / 1024, done.stderr


def _env() -> dict:
    root = str(Path(cli.__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}


@pytest.mark.slow
def test_a_one_hour_stereo_file_in_bounded_memory(tmp_path):
    """1 hour of 44.1 kHz stereo (PCM_16, 635 MB; whole, as float32, 1.3 GB) under 600 MB peak
    RSS in both modes. Block 1 only (reading, resampling, pieces and frames are those of
    every depth; the benchmark measures depth 12)."""
    minute = (0.1 * np.random.default_rng(0).standard_normal((60 * 44100, 2))).astype(np.float32)
    with sf.SoundFile(tmp_path / "hour.wav", "w", 44100, 2, "PCM_16") as f:
        for _ in range(60):
            f.write(minute)
    for mode in ("scene", "timestamps"):
        peak, err = _peak_rss_mb(["embed", tmp_path / "hour.wav", f"--{mode}", "--model", "kwmlp",
                                  "--depth", "1",
                                  "--threads", "1", "--progress-interval", "1", "--out",
                                  tmp_path / mode])
        assert peak < 600, (mode, peak)
        assert re.search(r"hour: \d+ of 3600 s", err), err[-2000:]  # progress inside the file
    assert np.load(tmp_path / "timestamps" / "hour.npy", mmap_mode="r").shape == (359_998, 64)


@pytest.mark.slow
def test_ctrl_c_stops_with_one_line_and_the_rerun_finishes(tmp_path):
    for i in range(40):
        write(tmp_path / "in" / f"{i:02d}.wav", 0.5, seed=i)
    command = [sys.executable, "-m", "hear_mixers.cli", "embed", str(tmp_path / "in"),
               "--model", "kwmlp", "--batch-size", "1", "--progress-interval", "0",
               "--threads", "1", "--out", str(tmp_path / "o")]
    child = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=_env(),
                             preexec_fn=default_sigint)
    lines = []
    for line in child.stderr:  # wait for two files to be done
        lines.append(line)
        if line.startswith("progress: 2/"):
            break
    child.send_signal(signal.SIGINT)
    rest = child.stderr.read()
    assert child.wait(timeout=60) == 130
    assert "Traceback" not in rest and rest.strip().splitlines()[-1].startswith(
        "hear-mixers: interrupted after ")
    done = len(list((tmp_path / "o").glob("*.npy")))
    assert 2 <= done < 40
    rerun = subprocess.run(command, capture_output=True, text=True, env=_env())
    assert rerun.returncode == 0, rerun.stderr
    assert f"embedded {40 - done} files" in rerun.stdout and f"skipped {done} " in rerun.stdout
    assert len(list((tmp_path / "o").glob("*.npy"))) == 40


# ---- the API: soundfile's (frames, channels) array is not a batch -------------------------


@pytest.mark.parametrize("channels", [1, 2, 6])
def test_frames_by_channels_audio_is_refused_with_the_fix(shipped, channels):
    audio = torch.zeros(SR, channels)  # soundfile.read's layout: (frames, channels)
    with pytest.raises(ValueError, match=r"looks like \(frames, channels\).*audio\.T.*mean"):
        get_scene_embeddings(audio, shipped)
    assert get_scene_embeddings(audio.T, shipped).shape == (channels, 1024)  # the fix works
    # real batches are never refused: many clips of 1 s, or a few clips shorter than 8 samples
    assert get_scene_embeddings(torch.zeros(3, 8), shipped).shape == (3, 1024)
