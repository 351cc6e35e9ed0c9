"""Batches of 1 s training examples with on-the-fly augmentation.

Words are placed at a random offset inside 1 s after a random speed change (numpy, per
clip: cheap), then the batch is augmented on its device: gain, reverb (synthetic
exponentially decaying room responses), band-limiting, and real recorded noise mixed at a
random SNR. SpecAugment masks the MFCCs afterwards (`spec_augment`).
"""

import math
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


# ---------------------------------------------------------------- in the log-mel domain
# The general trainer (training.train_general) reads cached fbank frames
# (training.features.FeatureBank) and augments them directly, so no step computes a
# spectrogram. Each waveform augmentation above has a counterpart on the power spectrum
# (the fbank of a sum of uncorrelated signals is close to the sum of their fbanks):
# gain is a factor, band-limiting zeroes mel bands, reverb is a decaying tail convolved
# along time in each band, noise is added at an SNR. The speed change becomes a time
# stretch that keeps pitch (the pitch labels must stay true).


@dataclass(frozen=True)
class FeatureAugmentConfig:
    stretch: tuple[float, float] = (0.85, 1.15)  # time factor, pitch kept
    gain_db: tuple[float, float] = (-18.0, 0.0)
    reverb_prob: float = 0.3
    rt60: tuple[float, float] = (0.1, 0.7)  # seconds for the tail's power to fall by 60 dB
    drr_db: tuple[float, float] = (-3.0, 10.0)  # direct-to-reverberant energy ratio
    bandlimit_prob: float = 0.3
    lowpass_hz: tuple[float, float] = (2500.0, 7500.0)
    highpass_hz: tuple[float, float] = (50.0, 400.0)
    mix_prob: float = 0.8  # add an interferer (a noise clip, or another training clip)
    snr_db: tuple[float, float] = (0.0, 25.0)
    time_masks: int = 2  # SpecAugment after normalisation (`spec_augment`)
    time_mask_width: int = 20
    freq_masks: int = 2
    freq_mask_width: int = 22  # of 128 mel bins


def crop_frames(bank, idx: np.ndarray, frames: int, rng: np.random.Generator,
                stretch=(1.0, 1.0), centre: bool = False) -> np.ndarray:
    """(n,) clip indices of a FeatureBank -> (n, frames, mel) float32 log-mel crops.

    A clip longer than the crop gives a random (or middle) stretch of `frames` output
    frames; a shorter one sits at a random (or centred) offset in silence (the fbank floor).
    A stretch factor f reads source frames f apart (linear interpolation): f > 1 is faster.
    """
    from training.features import LOG_FLOOR

    idx = np.asarray(idx, np.int64)
    n = len(idx)
    counts, starts = bank.counts[idx], bank.starts[idx]  # (n,)
    f = rng.uniform(*stretch, n) if stretch[0] != stretch[1] else np.full(n, float(stretch[0]))
    span = frames * f  # source frames a crop covers
    room_long = np.maximum(counts - span, 0).astype(np.int64)  # where the clip is longer
    room_short = np.maximum(frames - counts / f, 0).astype(np.int64)  # where it is shorter
    if centre:
        start, offset = room_long // 2, room_short // 2
    else:
        start, offset = rng.integers(0, room_long + 1), rng.integers(0, room_short + 1)
    grid = np.arange(frames, dtype=np.float64)[None]
    pos = np.where((counts >= span)[:, None], start[:, None] + grid * f[:, None],
                   (grid - offset[:, None]) * f[:, None])  # (n, frames) source frame
    keep = (pos >= 0) & (pos <= (counts - 1)[:, None])
    lo = np.floor(np.clip(pos, 0, None)).astype(np.int64)
    hi = np.minimum(lo + 1, (counts - 1)[:, None])
    w = (pos - lo)[keep].astype(np.float32)[:, None]
    first = (starts[:, None] + lo)[keep]
    second = (starts[:, None] + hi)[keep]
    out = np.full((n, frames, bank.num_mel_bins), LOG_FLOOR, np.float32)
    out[keep] = bank.frames[first].astype(np.float32) * (1 - w) + bank.frames[second].astype(np.float32) * w
    return out


def mel_centres_hz(cfg) -> torch.Tensor:
    """(mel,) centre frequency of each Kaldi mel band of a FbankConfig."""
    from hear_mixers.frontends.fbank import kaldi_mel_banks

    return kaldi_mel_banks(cfg).argmax(1).float() * cfg.sample_rate / cfg.n_fft


def reverb_power(p: torch.Tensor, rt60: torch.Tensor, drr_db: torch.Tensor,
                 hop_s: float) -> torch.Tensor:
    """(n, T, mel) power -> the same with a reverberant tail: each band convolved along time
    with [1, tail], the tail's power decaying 60 dB over rt60 and summing to 10^(-drr/10);
    rescaled to the input's loudest frame."""
    n, length, _ = p.shape
    k = torch.arange(1, length, device=p.device, dtype=p.dtype)
    tail = torch.exp(-13.8155 * k[None] * hop_s / rt60[:, None])  # ln(1e6): -60 dB in power
    tail = tail / tail.sum(1, keepdim=True) * 10 ** (-drr_db[:, None] / 10)
    kernel = torch.cat([torch.ones(n, 1, dtype=p.dtype, device=p.device), tail], 1)  # (n, T)
    size = 2 * length
    wet = torch.fft.irfft(torch.fft.rfft(p, size, dim=1) * torch.fft.rfft(kernel, size, dim=1)[..., None],
                          size, dim=1)[:, :length].clamp_min(0)
    peak_in, peak_out = p.sum(2).amax(1), wet.sum(2).amax(1)  # (n,)
    return wet * (peak_in / peak_out.clamp_min(1e-20))[:, None, None]


def augment_features(feats: torch.Tensor, noise: torch.Tensor, cfg: FeatureAugmentConfig,
                     gen: torch.Generator, centres_hz: torch.Tensor, hop_s: float) -> torch.Tensor:
    """(n, T, mel) log-mel crops and (n, T, mel) interferer crops -> augmented log-mel
    (gain, reverb, band-limiting, interferer at an SNR), floored as the fbank is."""
    from training.features import LOG_FLOOR

    n, dev = feats.shape[0], feats.device
    p = feats.exp() * 10 ** (_uniform(n, cfg.gain_db, gen, dev)[:, None, None] / 10)
    rows = torch.rand(n, generator=gen, device=dev) < cfg.reverb_prob
    if rows.any():
        k = int(rows.sum())
        p[rows] = reverb_power(p[rows], _uniform(k, cfg.rt60, gen, dev),
                               _uniform(k, cfg.drr_db, gen, dev), hop_s)
    rows = torch.rand(n, generator=gen, device=dev) < cfg.bandlimit_prob
    if rows.any():
        k = int(rows.sum())
        low, high = _uniform(k, cfg.lowpass_hz, gen, dev), _uniform(k, cfg.highpass_hz, gen, dev)
        keep = (centres_hz[None] >= high[:, None]) & (centres_hz[None] <= low[:, None])  # (k, mel)
        p[rows] = p[rows] * keep[:, None, :]
    rows = torch.rand(n, generator=gen, device=dev) < cfg.mix_prob
    if rows.any():
        k = int(rows.sum())
        snr = _uniform(k, cfg.snr_db, gen, dev)
        sig, nz = p[rows], noise[rows].exp()
        scale = sig.mean((1, 2)) / (nz.mean((1, 2)).clamp_min(1e-20) * 10 ** (snr / 10))
        p[rows] = sig + scale[:, None, None] * nz
    return p.clamp_min(math.exp(LOG_FLOOR)).log()
