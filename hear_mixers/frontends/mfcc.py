"""MFCC frontend of KW-MLP, built on nnAudio's MFCC (the one the HEAR 2021 `kwmlp` entry used)."""

from dataclasses import dataclass

import torch
from nnAudio.features import MFCC as _NNAudioMFCC
from torch import nn


@dataclass(frozen=True)
class MFCCConfig:
    sample_rate: int = 16000  # Hz; audio must already be at this rate
    n_mfcc: int = 40  # cepstral coefficients kept (= KW-MLP's patch height)
    n_mels: int = 40  # mel bands before the DCT
    n_fft: int = 480  # 30 ms
    win_length: int = 480  # 30 ms Hann window
    hop_length: int = 160  # 10 ms between frames
    top_db: float = 80.0  # dB floor below each example's maximum (per 1 s window here)


class MFCC(nn.Module):
    """(n, samples) float waveforms -> (n, n_mfcc, frames) MFCCs, librosa conventions.

    Frames are not centred (`center=False`): frame k covers samples
    [k * hop, k * hop + n_fft), so one second gives (16000 - 480) // 160 + 1 = 98 frames.
    nnAudio's MFCC always uses the orthonormal type-II DCT, power 2, a Slaney mel basis,
    ref 1 and amin 1e-10, exactly like `librosa.feature.mfcc` with these settings.
    """

    def __init__(self, cfg: MFCCConfig = MFCCConfig()):
        super().__init__()
        self.cfg = cfg
        self.mfcc = _NNAudioMFCC(
            sr=cfg.sample_rate,
            n_mfcc=cfg.n_mfcc,
            n_mels=cfg.n_mels,
            n_fft=cfg.n_fft,
            win_length=cfg.win_length,
            hop_length=cfg.hop_length,
            top_db=cfg.top_db,
            center=False,
            verbose=False,
        )
        # nnAudio registers its STFT kernels and mel basis as persistent buffers; they are
        # recomputed from cfg at construction, so keep them out of checkpoints.
        for module in self.mfcc.modules():
            for name, buf in list(module.named_buffers(recurse=False)):
                module.register_buffer(name, buf, persistent=False)

    def num_frames(self, num_samples: int) -> int:
        return (num_samples - self.cfg.n_fft) // self.cfg.hop_length + 1

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.mfcc(audio)  # (n, samples) -> (n, n_mfcc, frames)
