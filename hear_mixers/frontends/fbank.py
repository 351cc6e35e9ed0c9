"""Kaldi-style log mel filterbank (the AST / ASM frontend), batched, on the audio's device.

Matches `torchaudio.compliance.kaldi.fbank(wav - wav.mean(), htk_compat=True,
use_energy=False, window_type="hanning", num_mel_bins=128, dither=0.0, frame_shift=10,
frame_length=25, preemphasis_coefficient=0.97, snip_edges=True, low_freq=20)` clip by clip,
which itself follows Kaldi's compute-fbank-feats, in the same order: remove each frame's DC
offset, pre-emphasis with the first sample repeated, symmetric Hann window, zero padding to
512, real FFT, power, mel, log. nnAudio's STFT cannot be used here: it windows the raw frame,
with no DC removal or pre-emphasis inside the frame. (An earlier version folded the linear
per-frame steps into one (400 -> 2 x 257) DFT matrix: one matmul, but many times the
arithmetic of the FFT.)

Frames are not centred (snip_edges): frame k covers samples [160 k, 160 k + 400), so N
samples give 1 + (N - 400) // 160 frames.
"""

import math
from dataclasses import dataclass

import torch
from torch import nn

from hear_mixers.frontends import in_pieces

_EPS = torch.finfo(torch.float32).eps  # Kaldi's floor before the log


@dataclass(frozen=True)
class FbankConfig:
    sample_rate: int = 16000  # Hz; audio must already be at this rate
    num_mel_bins: int = 128
    frame_length: int = 400  # samples (25 ms)
    frame_shift: int = 160  # samples (10 ms)
    n_fft: int = 512  # frame_length rounded up to a power of two
    preemphasis: float = 0.97
    low_freq: float = 20.0  # Hz, lower edge of the first mel triangle
    high_freq: float = 0.0  # Hz; <= 0 means Nyquist + high_freq (Kaldi's convention)


def _mel(f):
    return 1127.0 * torch.log1p(f / 700.0)  # Kaldi's (HTK) mel scale


def kaldi_mel_banks(cfg: FbankConfig) -> torch.Tensor:
    """(num_mel_bins, n_fft // 2 + 1) triangular weights in Kaldi's mel domain, float64;
    the Nyquist column is zero (Kaldi drops that bin)."""
    nyquist = cfg.sample_rate / 2
    high = cfg.high_freq if cfg.high_freq > 0 else nyquist + cfg.high_freq
    if not 0 <= cfg.low_freq < high <= nyquist:
        raise ValueError(f"need 0 <= low_freq < high_freq <= {nyquist}, got {cfg}")
    low_mel, high_mel = _mel(torch.tensor(cfg.low_freq, dtype=torch.float64)), _mel(
        torch.tensor(high, dtype=torch.float64)
    )
    delta = (high_mel - low_mel) / (cfg.num_mel_bins + 1)
    edges = low_mel + delta * torch.arange(cfg.num_mel_bins + 2, dtype=torch.float64)
    left, centre, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]  # (M, 1)
    bins = torch.arange(cfg.n_fft // 2, dtype=torch.float64) * cfg.sample_rate / cfg.n_fft
    mel = _mel(bins)[None]  # (1, n_fft // 2)
    up, down = (mel - left) / (centre - left), (right - mel) / (right - centre)
    weights = torch.clamp(torch.minimum(up, down), min=0.0)  # (M, n_fft // 2)
    return torch.cat([weights, weights.new_zeros(cfg.num_mel_bins, 1)], dim=1)


def kaldi_window(cfg: FbankConfig) -> torch.Tensor:
    """(frame_length,) float64 Kaldi "hanning" window (symmetric: zero at both ends)."""
    i = torch.arange(cfg.frame_length, dtype=torch.float64)
    return 0.5 - 0.5 * torch.cos(2 * math.pi * i / (cfg.frame_length - 1))


class KaldiFbank(nn.Module):
    """(n, samples) float waveforms -> (n, num_mel_bins, frames) log mel energies (the MFCC
    frontend's layout: bins, then frames).

    Each clip's waveform mean is subtracted first (as AST does before kaldi.fbank). The
    window and mel weights are buffers (non-persistent: rebuilt from the config) in float32;
    the log spectrum is computed in their dtype (float32 even under autocast).
    """

    def __init__(self, cfg: FbankConfig = FbankConfig()):
        super().__init__()
        if cfg.n_fft < cfg.frame_length:
            raise ValueError(f"n_fft {cfg.n_fft} is shorter than frame_length {cfg.frame_length}")
        self.cfg = cfg
        self.register_buffer("window", kaldi_window(cfg).float(), persistent=False)
        self.register_buffer("mel", kaldi_mel_banks(cfg).float().T, persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.shape[-1] < self.cfg.frame_length:
            raise ValueError(
                f"fbank needs at least {self.cfg.frame_length} samples, got {audio.shape[-1]}"
            )
        with torch.autocast(audio.device.type, enabled=False):
            audio = audio.to(self.mel.dtype)  # float32 (float64 in a .double() model)
            audio = audio - audio.mean(dim=-1, keepdim=True)  # (n, N)
            frames = audio.unfold(-1, self.cfg.frame_length, self.cfg.frame_shift)  # (n, T, 400)
            logmel = in_pieces(self._logmel, frames)  # (n, T, mel bins)
            return logmel.transpose(-2, -1)  # (n, mel bins, T)

    def _logmel(self, frames: torch.Tensor) -> torch.Tensor:
        """(n, t, frame_length) frames -> (n, t, mel bins) log mel energies."""
        length, coef = self.cfg.frame_length, self.cfg.preemphasis
        x = frames - frames.mean(dim=-1, keepdim=True)  # (n, t, 400): DC removed
        # pre-emphasis (x[i] - coef x[i - 1], x[-1] := x[0]) and window, written into a frame
        # zero-padded to n_fft
        y = x.new_zeros(*x.shape[:-1], self.cfg.n_fft)  # (n, t, 512)
        y[..., 1:length] = torch.sub(x[..., 1:], x[..., :-1], alpha=coef)
        y[..., :1] = x[..., :1] * (1 - coef)
        y[..., :length] *= self.window
        spec = torch.fft.rfft(y)  # (n, t, 257) complex
        power = spec.real.square() + spec.imag.square()  # (n, t, 257)
        return torch.log(torch.clamp(power @ self.mel, min=_EPS))
