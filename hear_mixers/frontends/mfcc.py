"""MFCC frontend of KW-MLP: the features of nnAudio's MFCC (the one the HEAR 2021 `kwmlp` entry
used), computed with an FFT and precomputed mel and DCT matrices."""

import math
from dataclasses import dataclass

import torch
from nnAudio.utils import get_mel
from torch import nn

from hear_mixers.frontends import in_pieces


@dataclass(frozen=True)
class MFCCConfig:
    sample_rate: int = 16000  # Hz; audio must already be at this rate
    n_mfcc: int = 40  # cepstral coefficients kept (= KW-MLP's patch height)
    n_mels: int = 40  # mel bands before the DCT
    n_fft: int = 480  # 30 ms
    win_length: int = 480  # 30 ms Hann window
    hop_length: int = 160  # 10 ms between frames
    top_db: float = 80.0  # dB floor below each example's maximum (per 1 s window here)


AMIN = 1e-10  # power floor before the log (librosa and nnAudio default); ref power is 1


def dct_matrix(n_out: int, n_in: int) -> torch.Tensor:
    """(n_out, n_in) orthonormal type-II DCT, first n_out rows (what nnAudio hard-codes)."""
    k = torch.arange(n_out, dtype=torch.float64)[:, None]
    n = torch.arange(n_in, dtype=torch.float64)[None, :]
    basis = torch.cos(math.pi * k * (2 * n + 1) / (2 * n_in))
    scale = torch.full((n_out, 1), math.sqrt(2 / n_in), dtype=torch.float64)
    scale[0] = math.sqrt(1 / n_in)
    return scale * basis


class MFCC(nn.Module):
    """(n, samples) float waveforms -> (n, n_mfcc, frames) MFCCs, librosa conventions.

    Frames are not centred (`center=False`): frame k covers samples
    [k * hop, k * hop + n_fft), so one second gives (16000 - 480) // 160 + 1 = 98 frames.
    Periodic Hann window, power 2, Slaney mel basis (nnAudio's `get_mel`, a copy of librosa's),
    10 log10(max(power, 1e-10)) with ref 1, floor at each example's max - top_db, orthonormal
    type-II DCT: exactly `librosa.feature.mfcc` and nnAudio's MFCC with these settings.

    nnAudio computes the STFT as two strided convolutions with 241 sine and 241 cosine kernels
    and takes sqrt(re^2 + im^2) ** 2; here one real FFT per frame gives the same power at a
    fraction of the work (tests/test_fastpath.py pins the difference). It always runs in
    float32, autocast or not: the log is where reduced precision would hurt.
    """

    def __init__(self, cfg: MFCCConfig = MFCCConfig()):
        super().__init__()
        self.cfg = cfg
        if cfg.win_length > cfg.n_fft:
            raise ValueError(f"win_length {cfg.win_length} > n_fft {cfg.n_fft}")
        # fixed matrices: non-persistent buffers (rebuilt from cfg, never in checkpoints)
        window = torch.zeros(cfg.n_fft, dtype=torch.float64)  # Hann, centred in n_fft
        left = (cfg.n_fft - cfg.win_length) // 2
        hann = torch.hann_window(cfg.win_length, dtype=torch.float64)  # periodic, as librosa
        window[left : left + cfg.win_length] = hann
        mel = torch.from_numpy(get_mel(cfg.sample_rate, cfg.n_fft, cfg.n_mels, 0.0, None))
        self.register_buffer("window", window.float(), persistent=False)  # (n_fft,)
        self.register_buffer("mel_t", mel.T.contiguous(), persistent=False)  # (n_fft//2+1, n_mels)
        dct_t = dct_matrix(cfg.n_mfcc, cfg.n_mels).T.contiguous().float()
        self.register_buffer("dct_t", dct_t, persistent=False)  # (n_mels, n_mfcc)

    def num_frames(self, num_samples: int) -> int:
        return (num_samples - self.cfg.n_fft) // self.cfg.hop_length + 1

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.cepstra(self.log_mel(audio))

    def log_mel(self, audio: torch.Tensor) -> torch.Tensor:
        """(n, samples) -> (n, n_mels, frames) mel power in dB: the frame-local part."""
        cfg = self.cfg
        with torch.autocast(audio.device.type, enabled=False):  # float32 throughout
            frames = audio.float().unfold(-1, cfg.n_fft, cfg.hop_length)  # (n, T, n_fft) view
            return in_pieces(self._db, frames).transpose(-2, -1)  # (n, n_mels, T)

    def cepstra(self, db: torch.Tensor) -> torch.Tensor:
        """(n, n_mels, frames) dB -> (n, n_mfcc, frames): the floor at each example's
        max - top_db (over all its frames), then the DCT."""
        with torch.autocast(db.device.type, enabled=False):
            floor = db.amax(dim=(-2, -1), keepdim=True) - self.cfg.top_db  # per example
            db = torch.maximum(db, floor)
            return (db.transpose(-2, -1) @ self.dct_t).transpose(-2, -1)  # (n, n_mfcc, T)

    def _db(self, frames: torch.Tensor) -> torch.Tensor:
        """(n, t, n_fft) frames -> (n, t, n_mels) mel power in dB."""
        spec = torch.fft.rfft(frames * self.window)  # (n, t, n_fft // 2 + 1) complex
        power = spec.real.square() + spec.imag.square()  # 2x faster than .abs() ** 2
        return 10 * torch.log10((power @ self.mel_t).clamp_(min=AMIN))
