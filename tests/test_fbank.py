"""The batched Kaldi fbank against references: kaldi-native-fbank (Kaldi's C++ code, on PyPI)
and torchaudio.compliance.kaldi.fbank where torchaudio is importable (not on the CPU-only
torch 2.13 of CI: there is no matching torchaudio build)."""

import math

import numpy as np
import pytest
import torch

from hear_mixers import frontends
from hear_mixers.frontends.fbank import FbankConfig, KaldiFbank, kaldi_mel_banks

# Log-energy tolerance (values span -16..8). Measured against kaldi-native-fbank: max 3.2e-4 on
# white noise, 1.8e-3 on noise with a DC offset and 3.2e-3 on a pure tone (bins with little
# power: float32 round-off, e.g. near Kaldi's floor log(eps) = -15.9).
ATOL = 5e-3


def clips() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    t = torch.arange(16000) / 16000
    return torch.stack([
        0.1 * torch.randn(16000, generator=g),
        0.5 * torch.sin(2 * math.pi * 440 * t),
        0.3 * torch.randn(16000, generator=g) + 0.2,  # DC offset: removed per clip and frame
    ])


def knf_fbank(wav: torch.Tensor, bins: int) -> torch.Tensor:
    knf = pytest.importorskip("kaldi_native_fbank")
    opts = knf.FbankOptions()
    frame = opts.frame_opts
    frame.samp_freq, frame.dither, frame.snip_edges = 16000, 0.0, True
    frame.frame_shift_ms, frame.frame_length_ms = 10.0, 25.0
    frame.preemph_coeff, frame.window_type, frame.remove_dc_offset = 0.97, "hanning", True
    opts.mel_opts.num_bins, opts.mel_opts.low_freq, opts.mel_opts.high_freq = bins, 20.0, 0.0
    opts.use_energy, opts.htk_compat, opts.use_power, opts.use_log_fbank = False, True, True, True
    fbank = knf.OnlineFbank(opts)
    fbank.accept_waveform(16000, (wav - wav.mean()).tolist())
    fbank.input_finished()
    frames = [fbank.get_frame(i) for i in range(fbank.num_frames_ready)]
    return torch.from_numpy(np.stack(frames))


@pytest.mark.parametrize("bins", [23, 80, 120])
def test_matches_kaldi_native_fbank(bins):
    """kaldi-native-fbank refuses 128 bins at 16 kHz / 512-point FFT (some low triangles hold
    no FFT bin; Kaldi checks this, torchaudio does not), so it is compared at other sizes."""
    audio = clips()
    ours = KaldiFbank(FbankConfig(num_mel_bins=bins))(audio)
    for i, wav in enumerate(audio):
        ref = knf_fbank(wav, bins)
        assert ours[i].shape == ref.T.shape == (bins, 98)  # (bins, frames); Kaldi's is (frames, bins)
        torch.testing.assert_close(ours[i], ref.T, atol=ATOL, rtol=0)


def test_matches_torchaudio_kaldi_fbank_at_128_bins():
    kaldi = pytest.importorskip("torchaudio.compliance.kaldi")
    audio = clips()
    ours = KaldiFbank()(audio)
    for i, wav in enumerate(audio):
        ref = kaldi.fbank(
            (wav - wav.mean())[None], htk_compat=True, sample_frequency=16000, use_energy=False,
            window_type="hanning", num_mel_bins=128, dither=0.0, frame_shift=10,
            frame_length=25, preemphasis_coefficient=0.97, snip_edges=True, low_freq=20,
        )
        torch.testing.assert_close(ours[i], ref.T, atol=ATOL, rtol=0)


def test_float32_is_close_to_float64():
    """The float32 frontend against the same steps in float64 (the window rounded to float32
    in both), also on a tone and on quiet audio, whose low-power bins show round-off most."""
    audio = torch.cat([clips(), 1e-4 * clips()[:1]])
    fbank = KaldiFbank()
    err = (fbank(audio).double() - KaldiFbank().double()(audio.double())).abs()
    assert err.max() < ATOL and err.square().mean().sqrt() < 1e-4


def test_gradients_reach_the_waveform():
    """The frontend is differentiable (e.g. for attacks on, or saliency of, the embeddings)."""
    audio = clips().requires_grad_()
    KaldiFbank()(audio).sum().backward()
    assert audio.grad.shape == audio.shape and torch.isfinite(audio.grad).all()
    assert audio.grad.abs().sum() > 0


def test_batch_equals_clip_by_clip():
    audio = clips()
    fbank = KaldiFbank()
    batch = fbank(audio)
    for i in range(len(audio)):
        torch.testing.assert_close(batch[i : i + 1], fbank(audio[i : i + 1]), atol=1e-5, rtol=0)


def test_frame_count_and_shape():
    fbank = KaldiFbank()
    for n in (400, 559, 560, 16000, 15600):
        assert fbank(torch.randn(2, n)).shape == (2, 128, 1 + (n - 400) // 160)
    with pytest.raises(ValueError, match="at least 400 samples"):
        fbank(torch.randn(1, 399))


def test_mel_banks_are_kaldis_triangles():
    banks = kaldi_mel_banks(FbankConfig())
    assert banks.shape == (128, 257) and torch.all(banks[:, -1] == 0)  # Nyquist bin dropped
    assert banks.max() <= 1 and banks.min() == 0
    assert (banks.sum(dim=1) == 0).any()  # 128 bins: some low triangles catch no FFT bin
    peaks = banks[banks.sum(dim=1) > 0].argmax(dim=1)
    assert torch.all(peaks[1:] >= peaks[:-1])  # centres rise with the bin index


def test_buffers_stay_out_of_the_state_dict_and_follow_the_device():
    fbank = KaldiFbank()
    assert fbank.state_dict() == {}
    assert fbank.window.shape == (400,) and fbank.mel.shape == (257, 128)


def test_long_clips_are_computed_in_pieces_with_the_same_result(monkeypatch):
    """The API passes whole clips: their frames go through the spectrum in bounded pieces."""
    audio = clips()[:2]
    whole = KaldiFbank()(audio)
    pieces, logmel = [], KaldiFbank._logmel
    monkeypatch.setattr(KaldiFbank, "_logmel", lambda self, f: pieces.append(f.shape[1]) or logmel(self, f))
    monkeypatch.setattr(frontends, "PIECE_ROWS", 7)  # 2 clips: pieces of 3 frames
    torch.testing.assert_close(KaldiFbank()(audio), whole, atol=1e-5, rtol=0)
    assert max(pieces) == 3 and sum(pieces) == whole.shape[-1]
