"""The Audio Spectrogram Mixer family: ASM (Ji et al., "ASM: Audio Spectrogram Mixer"),
ASM-RH (Roll-Time and Hermit-FFT mixing, "Mixer is more than just a model") and the paper's
ablations ASM-H and ASM-R, with the GMME gated mini-patch extractor (He et al.) as an
optional stem. One encoder class; `mixer` picks the block. No public code exists for any of
them: every open choice is decided here and listed in docs/asm_decisions.md.

    waveform -> Kaldi fbank (n, 128 mel, frames) -> normalise -> [GMME] -> 16 x 16 patches
    -> tokens (n, T' * F', dim), time-major -> `depth` mixer blocks -> LayerNorm
    -> mean over tokens -> Linear (classifier);  embeddings: mean over F' per time column.
"""

from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from hear_mixers.frontends.fbank import FbankConfig, KaldiFbank
from hear_mixers.models import fused
from hear_mixers.models.base import Encoder, Geometry

MIXERS = {  # name -> (token mixing uses the Hermit FFT, channel mixing uses the RollBlock)
    "asm": (False, False),
    "asm_h": (True, False),
    "asm_r": (False, True),
    "asm_rh": (True, True),
}
GRAY = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma: ASM's RGB -> grayscale input projection


@dataclass(frozen=True)
class ASMConfig:
    frontend: FbankConfig = field(default_factory=FbankConfig)
    input_frames: int = 96  # fbank frames in (0.975 s: a window); longer input is cut, shorter padded
    norm_mean: float = 0.0  # fbank normalisation (x - mean) / (2 * std), from the training data
    norm_std: float = 0.5  # (defaults are a no-op; trained checkpoints carry their own)
    stem: str = "patch"  # "patch" or "gmme" (GMME first: 2x frequency, 1/2 time)
    gmme_kernel: int = 32  # GMME's K
    gmme_channels: int = 8  # GMME's C
    patch: int = 16  # square patches
    fstride: int = 16  # patch stride along frequency
    tstride: int = 8  # patch stride along time: the embedding hop (80 ms here)
    dim: int = 96  # token width = timestamp embedding size
    depth: int = 6  # mixer blocks
    token_hidden: int = 176  # hidden width of the token MLP (along tokens)
    channel_hidden: int = 384  # hidden width of the channel MLP (along channels)
    mixer: str = "asm_rh"  # one of MIXERS
    activation: str = "gelu"  # "gelu", "mish", "swish" or "acon_c"
    roll_groups: int = 16  # RollBlock C
    roll_rows: int = 4  # RollBlock C_a
    drop_path: float = 0.1  # per-sample stochastic depth rate of every residual branch
    num_classes: int = 35

    def __post_init__(self):
        if self.mixer not in MIXERS:
            raise ValueError(f"mixer must be one of {sorted(MIXERS)}, got {self.mixer!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        if self.stem not in ("patch", "gmme"):
            raise ValueError(f"stem must be 'patch' or 'gmme', got {self.stem!r}")
        if self.stem == "gmme" and self.input_frames % 2:
            raise ValueError(f"the GMME stem halves time: input_frames must be even, got {self.input_frames}")
        height, width = self.grid_input
        if min(height, width) < self.patch:
            raise ValueError(f"input {height} x {width} is smaller than one {self.patch}-patch")
        if MIXERS[self.mixer][1]:
            n, c, ca = self.num_tokens, self.roll_groups, self.roll_rows
            if n % ca or (self.dim * ca) % c:
                raise ValueError(
                    f"RollBlock reshapes (tokens {n}, dim {self.dim}) to ({c}, {n}//{ca}, "
                    f"{self.dim}*{ca}//{c}): tokens must divide by {ca} and dim*{ca} by {c}"
                )

    @property
    def grid_input(self) -> tuple[int, int]:
        """(frequency, time) size of the spectrogram the patches are cut from."""
        mel, frames = self.frontend.num_mel_bins, self.input_frames
        return (2 * mel, frames // 2) if self.stem == "gmme" else (mel, frames)

    @property
    def grid(self) -> tuple[int, int]:
        """(F', T'): patches along frequency and along time."""
        height, width = self.grid_input
        return (height - self.patch) // self.fstride + 1, (width - self.patch) // self.tstride + 1

    @property
    def used_frames(self) -> int:
        """Fbank frames that some patch covers (input_frames minus the stride remainder)."""
        scale = 2 if self.stem == "gmme" else 1
        return scale * (self.patch + (self.grid[1] - 1) * self.tstride)

    @property
    def num_tokens(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def num_frames(self) -> int:
        """Embedding frames per window: the time columns T'."""
        return self.grid[1]


# ---------------------------------------------------------------- activations and stems


class AconC(nn.Module):
    """Acon-C (Ma et al. 2021): (p1 - p2) x sigmoid(beta (p1 - p2) x) + p2 x, learnable per
    feature of the last axis. Starts as Swish (p1 = 1, p2 = 0, beta = 1)."""

    def __init__(self, width: int):
        super().__init__()
        self.p1 = nn.Parameter(torch.ones(width))
        self.p2 = nn.Parameter(torch.zeros(width))
        self.beta = nn.Parameter(torch.ones(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dp = (self.p1 - self.p2) * x
        return dp * torch.sigmoid(self.beta * dp) + self.p2 * x


ACTIVATIONS = {
    "gelu": lambda width: nn.GELU(),
    "mish": lambda width: nn.Mish(),
    "swish": lambda width: nn.SiLU(),
    "acon_c": AconC,
}


def rgb_to_gray_patch_weights(weight: torch.Tensor) -> torch.Tensor:
    """ASM's input projection: a 3-channel (RGB, e.g. ImageNet) patch embedding weight
    (dim, 3, p, p) -> the one-channel weight (dim, 1, p, p) for a spectrogram, combined with
    luma coefficients instead of AST's plain sum over channels. Trained from scratch (as
    here) the projection is an ordinary one-channel convolution."""
    if weight.ndim != 4 or weight.shape[1] != 3:
        raise ValueError(f"expected an RGB patch weight (dim, 3, p, p), got {tuple(weight.shape)}")
    gray = weight.new_tensor(GRAY)
    return (weight * gray[None, :, None, None]).sum(dim=1, keepdim=True)


class GMME(nn.Module):
    """Gated multi mini-patch extractor: (n, f, t) -> (n, 2f, t/2) with stride s = 2.

    Three strided convolutions, each followed by a per-channel PReLU: a frequency branch with
    a [k, 2s] kernel (k along frequency), a time branch [2s, k] (k along time), each with C
    channels, and a global branch [2s, 2s] with C/2. Padding keeps f/s x t/s. Gates G =
    sigmoid(G_t) sigmoid(G_f) and features M = PReLU(M_t M_f) from the channel halves; a
    pointwise conv maps Z_g + G M (C/2 channels) to 2s channels, stacked along frequency.
    """

    def __init__(self, kernel: int = 32, channels: int = 8, stride: int = 2):
        super().__init__()
        k, c, s = kernel, channels, stride
        if c % 4 or (k - s) % 2:
            raise ValueError(f"GMME needs channels divisible by 4 and kernel - stride even, got {k}, {c}")
        self.stride = s
        self.freq = nn.Conv2d(1, c, (k, 2 * s), stride=s, padding=((k - s) // 2, s // 2))
        self.time = nn.Conv2d(1, c, (2 * s, k), stride=s, padding=(s // 2, (k - s) // 2))
        self.glob = nn.Conv2d(1, c // 2, 2 * s, stride=s, padding=s // 2)
        self.act_f, self.act_t, self.act_g = nn.PReLU(c), nn.PReLU(c), nn.PReLU(c // 2)
        self.act_m = nn.PReLU(c // 2)
        self.point = nn.Conv2d(c // 2, 2 * s, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, f, t = x.shape
        x = x[:, None]  # (n, 1, f, t)
        z_f = self.act_f(self.freq(x))  # (n, C, f/s, t/s)
        z_t = self.act_t(self.time(x))  # (n, C, f/s, t/s)
        z_g = self.act_g(self.glob(x))  # (n, C/2, f/s, t/s)
        g_f, m_f = z_f.chunk(2, dim=1)
        g_t, m_t = z_t.chunk(2, dim=1)
        gated = torch.sigmoid(g_t) * torch.sigmoid(g_f) * self.act_m(m_t * m_f)
        out = self.point(z_g + gated)  # (n, 2s, f/s, t/s)
        return out.reshape(n, 2 * f, t // self.stride)  # channels stacked along frequency


# ---------------------------------------------------------------- mixing


def roll_block(x: torch.Tensor, alpha: int, depth: int, groups: int = 16, rows: int = 4,
               inverse: bool = False, dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """RollBlock (ASM-RH Algorithm 1) of block `alpha` (0-based) of `depth`.

    (n, H, W) -> view (n, C, H // C_a, W * C_a // C); four groups of g = int(C / (1 + alpha))
    of the C slices roll by +step, -step along the last axis and +step, -step along the one
    before, step = depth - alpha; the rest stay. Rolled-out values re-enter at the other end,
    so it is a permutation (`inverse=True` undoes it). Each value is written once, into a
    new tensor (the input, a LayerNorm output autograd may need, is left as it is) of
    `dtype` (default x's): a cast in the same pass.
    """
    n, height, width = x.shape
    feat = x.reshape(n, groups, height // rows, width * rows // groups)
    out = torch.empty_like(feat, dtype=dtype)
    g, step = int(groups / (1 + alpha)), depth - alpha
    step = -step if inverse else step
    for i, (shift, dim) in enumerate([(step, 3), (-step, 3), (step, 2), (-step, 2)]):
        src, dst = feat[:, i * g : (i + 1) * g], out[:, i * g : (i + 1) * g]
        size = src.shape[dim]
        s = shift % size  # torch.roll(src, shift, dim): dst[(j + s) % size] = src[j]
        dst.narrow(dim, s, size - s).copy_(src.narrow(dim, 0, size - s))
        dst.narrow(dim, 0, s).copy_(src.narrow(dim, size - s, s))
    out[:, 4 * g :] = feat[:, 4 * g :]  # not rolled (empty when 4 g >= C)
    return out.reshape(n, height, width)


class Mlp(nn.Module):
    def __init__(self, width: int, hidden: int, activation: str):
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.act = ACTIVATIONS[activation](hidden)
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., width) -> (..., width)
        # without autograd on CPU each layer is one oneDNN kernel (models/fused.py)
        h = fused.linear(x, self.fc1.weight, self.fc1.bias, self.act)  # (..., hidden)
        return fused.linear(h, self.fc2.weight, self.fc2.bias)


class TokenMixing(nn.Module):
    """MLP-Mixer token mixing, or with `hermit` ASM-RH's Hermit-Frequency-mixing: hfft along
    the channel axis before the first transpose and irfft after the second, both with n = dim
    (real in, real out, same shape) and orthonormal scaling.

    With real input both transforms are fixed linear maps of the channel axis, so they are
    applied as products with their matrices: the same map, but a matmul, which autocast
    runs in bf16 (no float32 round trip) and which is no slower than the FFT in float32 on
    a CPU (training/README.md, "Speed"). irfft(n=dim) reads only the first dim // 2 + 1
    channels of its input, and the token MLP mixes each channel on its own, so only those
    channels of the hfft are computed and mixed: the same function, about half the token
    MLP's work."""

    def __init__(self, dim: int, num_tokens: int, hidden: int, activation: str, hermit: bool):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.mlp = Mlp(num_tokens, hidden, activation)
        self.hermit = hermit
        if hermit:  # F.linear weights (out, in); not saved in checkpoints
            half = dim // 2 + 1  # the channels irfft reads
            eye = torch.eye(dim, dtype=torch.float64)
            hfft = torch.fft.hfft(eye, n=dim, norm="ortho")  # row i: hfft of unit vector i
            irfft = torch.fft.irfft(eye[:half], n=dim, norm="ortho")  # (half, dim)
            self.register_buffer("hfft", hfft[:, :half].T.float(), persistent=False)  # (half, dim)
            self.register_buffer("irfft", irfft.T.float(), persistent=False)  # (dim, half)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (n, N, D) -> (n, N, D)
        y = self.norm(x)
        if self.hermit:  # torch.fft.hfft(y, n=D, dim=-1, norm="ortho")[..., :D // 2 + 1]
            y = fused.linear(y, self.hfft, None)  # (n, N, D // 2 + 1)
        y = self.mlp(y.transpose(1, 2)).transpose(1, 2)  # mix along tokens
        if self.hermit:  # torch.fft.irfft(y, n=D, dim=-1, norm="ortho")
            y = fused.linear(y, self.irfft, None)  # (n, N, D)
        return y


class ChannelMixing(nn.Module):
    """MLP-Mixer channel mixing, or with `roll` ASM-RH's Roll-Time-mixing (LayerNorm ->
    RollBlock -> feed-forward)."""

    def __init__(self, dim: int, hidden: int, activation: str, roll: Optional[dict]):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.roll = roll  # roll_block keyword arguments, or None
        self.mlp = Mlp(dim, hidden, activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (n, N, D) -> (n, N, D)
        y = self.norm(x)
        if self.roll is not None:  # into the dtype the MLP's kernel reads (bf16 under autocast)
            y = roll_block(y, **self.roll, dtype=fused.input_dtype(y))
        return self.mlp(y)


class MixerBlock(nn.Module):
    """Pre-norm residual block: x + token/frequency mixing, then + channel/time mixing."""

    def __init__(self, cfg: ASMConfig, index: int):
        super().__init__()
        hermit, roll = MIXERS[cfg.mixer]
        roll_args = dict(alpha=index, depth=cfg.depth, groups=cfg.roll_groups, rows=cfg.roll_rows)
        self.token = TokenMixing(cfg.dim, cfg.num_tokens, cfg.token_hidden, cfg.activation, hermit)
        self.channel = ChannelMixing(cfg.dim, cfg.channel_hidden, cfg.activation,
                                     roll_args if roll else None)
        self.drop_path = cfg.drop_path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self._drop(self.token(x))
        return x + self._drop(self.channel(x))

    def _drop(self, y: torch.Tensor) -> torch.Tensor:
        """Per-sample stochastic depth of a residual branch, rescaled (training only)."""
        if not self.training or self.drop_path == 0.0:
            return y
        keep = 1.0 - self.drop_path
        mask = torch.rand(y.shape[0], 1, 1, device=y.device) < keep
        return y * mask / keep


# ---------------------------------------------------------------- the encoder


class ASMFrontend(nn.Module):
    """(n, samples) -> (n, mel, input_frames): Kaldi fbank, normalised, then cut or padded
    (with the training mean) to `input_frames`."""

    def __init__(self, cfg: ASMConfig):
        super().__init__()
        self.cfg = cfg
        self.fbank = KaldiFbank(cfg.frontend)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.fit(self.features(audio))

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        """(n, samples) -> (n, mel, frames) normalised fbank, any length."""
        return (self.fbank(audio) - self.cfg.norm_mean) / (2 * self.cfg.norm_std)

    def fit(self, x: torch.Tensor) -> torch.Tensor:
        """(n, mel, frames) -> (n, mel, input_frames): cut, or padded with zeros (the mean)."""
        frames = self.cfg.input_frames
        return x[..., :frames] if x.shape[-1] >= frames else F.pad(x, (0, frames - x.shape[-1]))


class ASM(Encoder):
    """Waveform windows -> fbank -> patches -> mixer blocks -> logits (see module doc)."""

    arch = "asm"

    def __init__(self, cfg: ASMConfig = ASMConfig()):
        super().__init__()
        self.cfg = cfg
        self.frontend = ASMFrontend(cfg)
        self.gmme = GMME(cfg.gmme_kernel, cfg.gmme_channels) if cfg.stem == "gmme" else None
        self.patch_embed = nn.Conv2d(1, cfg.dim, cfg.patch, stride=(cfg.fstride, cfg.tstride))
        self.blocks = nn.ModuleList(MixerBlock(cfg, i) for i in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, cfg.num_classes)
        # time column j of a window covers fbank frames [j * s, j * s + span), s = tstride
        # (x2 after GMME); its embedding is the mean over the column's frequency patches
        fb, scale = cfg.frontend, 2 if cfg.stem == "gmme" else 1
        self.geometry = Geometry(
            sample_rate=fb.sample_rate,
            frame_hop=cfg.tstride * scale * fb.frame_shift,
            frame_length=(cfg.patch * scale - 1) * fb.frame_shift + fb.frame_length,
            window_frames=cfg.num_frames, embed_dim=cfg.dim, num_blocks=cfg.depth,
            feature_hop=fb.frame_shift, window_features=cfg.used_frames)

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        """(n, samples) -> (n, mel, frames): the normalised fbank (frame-local)."""
        return self.frontend.features(audio)

    def tokens(self, feats: torch.Tensor) -> torch.Tensor:
        """(n, mel, used_frames) -> tokens: padded to input_frames as in training, patched."""
        return self.patchify(self.frontend.fit(feats))

    def patchify(self, feats: torch.Tensor) -> torch.Tensor:
        """(n, mel, frames) features -> (n, T' * F', dim) tokens, time-major."""
        x = self.gmme(feats) if self.gmme is not None else feats  # (n, F, T)
        x = self.patch_embed(x[:, None])  # (n, dim, F', T')
        return x.permute(0, 3, 2, 1).flatten(1, 2)  # (n, T' * F', dim): token = t * F' + f

    def window_source(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, mel, F) clip features -> (B, P, F', dim): the patch tokens of every patch
        column of the clips, computed once (windows start on multiples of tstride frames, so
        a window's patches are P's columns [start / tstride, start / tstride + T')); the
        GMME stem's padded convolutions see the window's edges, so with it: the features."""
        if self.gmme is not None:
            return feats
        x = self.patch_embed(feats[:, None])  # (B, dim, F', P)
        return x.permute(0, 3, 2, 1).contiguous()  # (B, P, F', dim)

    def window_tokens(self, source: torch.Tensor, clips: torch.Tensor,
                      starts: torch.Tensor) -> torch.Tensor:
        """(n,) clips and start frames (multiples of tstride) -> (n, T' * F', dim) tokens."""
        if self.gmme is not None:
            return super().window_tokens(source, clips, starts)
        columns = torch.arange(self.cfg.num_frames, device=starts.device)  # (T',)
        first = torch.div(starts, self.cfg.tstride, rounding_mode="floor")  # (n,)
        x = source[clips[:, None], first[:, None] + columns]  # (n, T', F', dim)
        return x.flatten(1, 2)  # (n, T' * F', dim): token = t * F' + f

    def to_frames(self, x: torch.Tensor) -> torch.Tensor:
        """(n, T' * F', dim) -> (n, T', dim): mean over the frequency patches of each column."""
        f_patches, t_patches = self.cfg.grid
        return x.view(x.shape[0], t_patches, f_patches, -1).mean(dim=2)

    def classify(self, feats: torch.Tensor) -> torch.Tensor:
        """(n, mel, input_frames) normalised features -> (n, num_classes) logits."""
        x = self.patchify(feats)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x).mean(dim=1))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.classify(self.frontend(audio))


# The configs of the docs and tests. "base" is the paper's (ASM-RH paper: 12 blocks over
# [batch, 600, 768]; 128 x 512 input at stride 10 -> 12 x 50 patches; Mixer-B/16 hidden
# sizes 384 and 3072). "small" is the shipped one (the dataclass defaults).
CONFIGS = {
    "base": dict(input_frames=512, fstride=10, tstride=10, dim=768, depth=12,
                 token_hidden=384, channel_hidden=3072),
    "small": dict(),
}


def make_config(name: str = "small", **overrides) -> ASMConfig:
    if name not in CONFIGS:
        raise ValueError(f"unknown ASM config {name!r}; known: {sorted(CONFIGS)}")
    return ASMConfig(**{**CONFIGS[name], **overrides})
