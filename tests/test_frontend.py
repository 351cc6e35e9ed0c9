import numpy as np
import pytest
import torch

from hear_mixers import frontends
from hear_mixers.frontends.mfcc import MFCC

librosa = pytest.importorskip("librosa")

# nnAudio's float32 STFT against librosa: measured max abs difference < 1e-4 on MFCCs whose
# values reach several hundred; 1e-3 leaves room for BLAS differences across machines.
ATOL = 1e-3


def clips():
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    yield 0.1 * rng.standard_normal(16000)
    yield 0.5 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(16000)
    yield np.concatenate([np.zeros(8000), 0.3 * rng.standard_normal(8000)])  # half silence
    yield 0.05 * rng.standard_normal(20000)  # not one second long


@pytest.mark.parametrize("clip", list(clips()), ids=["noise", "tone", "half-silent", "1.25s"])
def test_mfcc_matches_librosa(clip):
    y = clip.astype(np.float32)
    ref = librosa.feature.mfcc(
        y=y, sr=16000, n_mfcc=40, n_mels=40, n_fft=480, win_length=480, hop_length=160,
        center=False,
    )
    ours = MFCC()(torch.from_numpy(y)[None])[0].numpy()
    assert ours.shape == ref.shape == (40, (len(y) - 480) // 160 + 1)
    np.testing.assert_allclose(ours, ref, atol=ATOL, rtol=0)


def test_mfcc_is_batched_and_top_db_is_per_example():
    loud, quiet = 0.5 * torch.randn(16000), 1e-3 * torch.randn(16000)
    frontend = MFCC()
    batch = frontend(torch.stack([loud, quiet]))
    assert batch.shape == (2, 40, 98)
    torch.testing.assert_close(batch[1], frontend(quiet[None])[0], atol=1e-4, rtol=0)


def test_mfcc_runs_on_the_device_of_its_input():
    frontend = MFCC()
    out = frontend(torch.randn(1, 16000))
    assert out.device.type == "cpu"
    if torch.cuda.is_available():
        assert frontend.cuda()(torch.randn(1, 16000, device="cuda")).device.type == "cuda"


def test_log_mel_of_long_clips_is_computed_in_pieces_with_the_same_result(monkeypatch):
    audio = 0.1 * torch.randn(2, 16000)
    whole = MFCC().log_mel(audio)
    pieces, db = [], MFCC._db
    monkeypatch.setattr(MFCC, "_db", lambda self, f: pieces.append(f.shape[1]) or db(self, f))
    monkeypatch.setattr(frontends, "PIECE_ROWS", 41)  # 2 clips: pieces of 20 frames
    torch.testing.assert_close(MFCC().log_mel(audio), whole, atol=1e-4, rtol=0)
    assert max(pieces) == 20 and sum(pieces) == whole.shape[-1] == 98
