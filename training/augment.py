"""Batches of 1 s training examples with on-the-fly augmentation.

Words are placed at a random offset inside 1 s after a random speed change (numpy, per
clip: cheap), then the batch is augmented on its device: gain, reverb (synthetic
exponentially decaying room responses), band-limiting, and real recorded noise mixed at a
random SNR. SpecAugment masks the MFCCs afterwards (`spec_augment`).
"""

from dataclasses import dataclass

import numpy as np
import torch

from training.data import SAMPLE_RATE, Clips

WINDOW = SAMPLE_RATE  # one training example = 1 s


@dataclass(frozen=True)
class AugmentConfig:
    speed: tuple[float, float] = (0.85, 1.15)  # resampling factor: tempo and pitch together
    gain_db: tuple[float, float] = (-18.0, 0.0)
    reverb_prob: float = 0.3
    rt60: tuple[float, float] = (0.1, 0.7)  # seconds for the decay to fall by 60 dB
    bandlimit_prob: float = 0.3
    lowpass_hz: tuple[float, float] = (2500.0, 7500.0)
    highpass_hz: tuple[float, float] = (50.0, 400.0)
    noise_prob: float = 0.8
    snr_db: tuple[float, float] = (-3.0, 25.0)
    time_masks: int = 2  # SpecAugment, as in the KW-MLP recipe
    time_mask_width: int = 25
    freq_masks: int = 2
    freq_mask_width: int = 7


def place(words: Clips, idx: np.ndarray, rng: np.random.Generator, speed=(1.0, 1.0),
          centre: bool = False) -> np.ndarray:
    """(n,) clip indices -> (n, 1 s) float32: each word resampled by a random speed factor
    and put at a random offset (or centred); words longer than 1 s are cut around their middle."""
    out = np.zeros((len(idx), WINDOW), np.float32)
    for row, i in enumerate(idx):
        clip = words.clip(int(i))
        factor = rng.uniform(*speed)
        if factor != 1.0:  # linear-interpolation resampling: factor > 1 is faster, higher
            n = max(1, int(round(len(clip) / factor)))
            clip = np.interp(np.arange(n) * factor, np.arange(len(clip)), clip).astype(np.float32)
        if len(clip) > WINDOW:
            cut = (len(clip) - WINDOW) // 2
            clip = clip[cut : cut + WINDOW]
        room = WINDOW - len(clip)
        offset = room // 2 if centre else int(rng.integers(0, room + 1))
        out[row, offset : offset + len(clip)] = clip
    return out


def noise_segments(noise: Clips, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 1 s) random 1 s crops of noise clips (short clips are tiled). Every source
    (e.g. "klettres-data/babble", "hydrogen-drumkits/drums") is drawn equally often, so the
    largest one (babble, ~80 % of the bank's files) does not crowd out the others."""
    _, group, counts = np.unique(noise.source, return_inverse=True, return_counts=True)
    weights = 1.0 / counts[group]
    out = np.empty((n, WINDOW), np.float32)
    for row, i in enumerate(rng.choice(len(noise), n, p=weights / weights.sum())):
        clip = noise.clip(int(i))
        if len(clip) < WINDOW:
            clip = np.tile(clip, WINDOW // len(clip) + 1)
        start = int(rng.integers(0, len(clip) - WINDOW + 1))
        out[row] = clip[start : start + WINDOW]
    return out


def mix_at_snr(speech: torch.Tensor, noise: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
    """(n, T) speech + noise scaled so that speech power / noise power = snr_db per row."""
    p_speech = speech.pow(2).mean(1, keepdim=True).clamp_min(1e-10)
    p_noise = noise.pow(2).mean(1, keepdim=True).clamp_min(1e-10)
    scale = torch.sqrt(p_speech / (p_noise * 10 ** (snr_db[:, None] / 10)))
    return speech + scale * noise


def _uniform(n: int, bounds, gen: torch.Generator, device) -> torch.Tensor:
    lo, hi = bounds
    return lo + (hi - lo) * torch.rand(n, generator=gen, device=device)


def reverb(x: torch.Tensor, rt60: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Convolve each row with noise under an exponential decay of its rt60 (FFT convolution),
    keeping the direct sound and the row's peak level."""
    n, length = x.shape
    t = torch.arange(length // 2, device=x.device) / SAMPLE_RATE  # responses up to 0.5 s
    decay = torch.exp(-6.9078 * t[None] / rt60[:, None])  # ln(1000) = 6.9078: -60 dB at rt60
    rir = torch.randn(n, len(t), generator=gen, device=x.device) * decay
    rir[:, 0] = 1.0  # direct path
    size = length + len(t)
    wet = torch.fft.irfft(torch.fft.rfft(x, size) * torch.fft.rfft(rir, size), size)[:, :length]
    peak_in, peak_out = x.abs().amax(1, keepdim=True), wet.abs().amax(1, keepdim=True)
    return wet * peak_in / peak_out.clamp_min(1e-8)


def bandlimit(x: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Keep only frequencies in [high-pass, low-pass] per row (brick wall in the FFT)."""
    spec = torch.fft.rfft(x)
    freqs = torch.fft.rfftfreq(x.shape[1], 1 / SAMPLE_RATE).to(x.device)
    keep = (freqs[None] >= high[:, None]) & (freqs[None] <= low[:, None])
    return torch.fft.irfft(spec * keep, x.shape[1])


def augment(speech: torch.Tensor, noise: torch.Tensor, cfg: AugmentConfig,
            gen: torch.Generator) -> torch.Tensor:
    """(n, 1 s) placed words and (n, 1 s) noise crops -> augmented waveforms, on their device."""
    n, dev = speech.shape[0], speech.device
    x = speech * 10 ** (_uniform(n, cfg.gain_db, gen, dev)[:, None] / 20)
    rows = torch.rand(n, generator=gen, device=dev) < cfg.reverb_prob
    if rows.any():
        x[rows] = reverb(x[rows], _uniform(int(rows.sum()), cfg.rt60, gen, dev), gen)
    rows = torch.rand(n, generator=gen, device=dev) < cfg.bandlimit_prob
    if rows.any():
        k = int(rows.sum())
        x[rows] = bandlimit(x[rows], _uniform(k, cfg.lowpass_hz, gen, dev),
                            _uniform(k, cfg.highpass_hz, gen, dev))
    rows = torch.rand(n, generator=gen, device=dev) < cfg.noise_prob
    if rows.any():
        x[rows] = mix_at_snr(x[rows], noise[rows], _uniform(int(rows.sum()), cfg.snr_db, gen, dev))
    return x.clamp(-1.0, 1.0)


def spec_augment(feats: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """(n, F, T) features with `time_masks` time and `freq_masks` frequency bands set to the
    example's mean (widths uniform in 0..max)."""
    n, n_freq, n_time = feats.shape
    dev = feats.device
    fill = feats.mean(dim=(1, 2), keepdim=True)
    masked = torch.zeros_like(feats, dtype=torch.bool)
    for count, width, size, axis in [(cfg.time_masks, cfg.time_mask_width, n_time, 2),
                                     (cfg.freq_masks, cfg.freq_mask_width, n_freq, 1)]:
        pos = torch.arange(size, device=dev)
        for _ in range(count):
            w = torch.randint(0, width + 1, (n,), generator=gen, device=dev)
            start = (torch.rand(n, generator=gen, device=dev) * (size - w + 1)).long()
            band = (pos[None] >= start[:, None]) & (pos[None] < (start + w)[:, None])  # (n, size)
            masked |= band[:, None, :] if axis == 2 else band[:, :, None]
    return torch.where(masked, fill, feats)
