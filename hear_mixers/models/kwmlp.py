"""KW-MLP: gated-MLP blocks over 40 MFCC x 98 frames (Morshed & Ahsan, "Attention-free
keyword spotting", and the HEAR 2021 `kwmlp` entry)."""

from dataclasses import dataclass, field

import torch
from torch import nn

from hear_mixers.frontends.mfcc import MFCC, MFCCConfig
from hear_mixers.models import fused
from hear_mixers.models.base import Encoder, Geometry


@dataclass(frozen=True)
class KWMLPConfig:
    frontend: MFCCConfig = field(default_factory=MFCCConfig)  # MFCC settings (part of the model)
    num_frames: int = 98  # tokens = MFCC frames in one window of 1 s
    dim: int = 64  # token width = timestamp embedding size
    depth: int = 12  # gMLP blocks
    ff_mult: int = 4  # hidden width of a block = ff_mult * dim (256)
    survival_prob: float = 0.9  # stochastic depth: chance a block runs in training
    num_classes: int = 35  # Speech Commands V2-35 keywords


class SpatialGatingUnit(nn.Module):
    """gMLP's spatial gating unit (Liu et al. 2021): half the channels gate the other half
    after a LayerNorm and a dense projection across time (no activation on the gate)."""

    def __init__(self, dim_ff: int, num_tokens: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim_ff // 2)
        self.proj = nn.Linear(num_tokens, num_tokens)  # weight (T, T): mixes time, not channels
        # near-identity start: the gate begins as ~1 everywhere
        eps = 1e-3 / num_tokens
        nn.init.uniform_(self.proj.weight, -eps, eps)
        nn.init.ones_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res, gate = x.chunk(2, dim=-1)  # (n, T, ff) -> 2 x (n, T, ff/2)
        gate = self.norm(gate)
        # gate[n, t] = sum_s W[t, s] gate[n, s] + b[t]; einsum avoids two transposed copies
        # (measured ~4x faster than proj(gate.transpose(1, 2)) forward + backward on CPU)
        gate = torch.einsum("ts,nsc->ntc", self.proj.weight, gate) + self.proj.bias[:, None]
        return res * gate

    def forward_split(self, res: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        """Inference form of `forward` (grad disabled): res and gate (n, T, ff/2) given apart,
        the time mixing and its bias as one batched matmul, the product in place. Measured
        ~1.5x faster than the einsum forward on CPU, but baddbmm's backward is slow."""
        n, t, c = gate.shape
        # under autocast, cast weight and bias before expanding them: autocast's own cast of
        # the expanded views would write (n, T, T) and (n, T, c) copies in every block
        device = gate.device.type
        autocast = torch.amp.is_autocast_available(device) and torch.is_autocast_enabled(device)
        dtype = torch.get_autocast_dtype(device) if autocast else None
        weight, bias = self.proj.weight.to(dtype), self.proj.bias.to(dtype)
        bias = bias[:, None].expand(n, t, c)  # (T, 1) -> (n, T, c), a view
        mixed = torch.baddbmm(bias, weight.expand(n, t, t), self.norm(gate))
        return mixed.mul_(res)  # (n, T, c)


class GMLPBlock(nn.Module):
    """Post-norm gMLP block of KW-MLP: x + LayerNorm(proj_out(sgu(gelu(proj_in(x))))).

    Two formulations of one function: `forward_inference` runs whenever grad is disabled
    (the HEAR API, evaluation) and is ~1.5x faster on CPU; with grad enabled (training)
    `forward` keeps the form whose backward is fast. Both give the same numbers on CPU
    (tests/test_fastpath.py).
    """

    def __init__(self, dim: int, dim_ff: int, num_tokens: int):
        super().__init__()
        self.proj_in = nn.Linear(dim, dim_ff)
        self.act = nn.GELU()  # exact (erf) GELU, as trained
        self.sgu = SpatialGatingUnit(dim_ff, num_tokens)
        self.proj_out = nn.Linear(dim_ff // 2, dim)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (n, T, dim) -> (n, T, dim)
        if not torch.is_grad_enabled():
            return self.forward_inference(x)
        return x + self.norm(self.proj_out(self.sgu(self.act(self.proj_in(x)))))

    def forward_inference(self, x: torch.Tensor) -> torch.Tensor:  # (n, T, dim) -> (n, T, dim)
        """`forward` without autograd: proj_in as two half-width matmuls, so res and gate
        come out contiguous (no copy before the gate's LayerNorm), then `sgu.forward_split`,
        and the residual added in place; on CPU each linear layer (with its GELU) is one
        oneDNN kernel (models/fused.py)."""
        half = self.proj_out.in_features
        w, b = self.proj_in.weight, self.proj_in.bias  # (2 half, dim), (2 half,)
        res = fused.linear(x, w[:half], b[:half], self.act)  # (n, T, half)
        gate = fused.linear(x, w[half:], b[half:], self.act)  # (n, T, half)
        mixed = self.sgu.forward_split(res, gate)  # (n, T, half)
        return self.norm(fused.linear(mixed, self.proj_out.weight, self.proj_out.bias)).add_(x)


class KWMLP(Encoder):
    """Waveform windows of 1 s -> MFCC -> 98 tokens -> `depth` gMLP blocks -> 35 logits.

    The API uses `features`, `window_tokens` and `forward_tokens` (see `Encoder`) for
    embeddings; `forward` is the classifier (with stochastic depth while training).
    """

    arch = "kwmlp"

    def __init__(self, cfg: KWMLPConfig = KWMLPConfig()):
        super().__init__()
        self.cfg = cfg
        self.frontend = MFCC(cfg.frontend)
        self.stem = nn.Linear(cfg.frontend.n_mfcc, cfg.dim)  # one 40 x 1 patch per frame
        self.blocks = nn.ModuleList(
            GMLPBlock(cfg.dim, cfg.dim * cfg.ff_mult, cfg.num_frames) for _ in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(cfg.dim)  # trained final norm, kept for depth-L embeddings
        self.head = nn.Linear(cfg.dim, cfg.num_classes)
        fe = cfg.frontend  # one embedding per MFCC frame
        self.geometry = Geometry(fe.sample_rate, fe.hop_length, fe.n_fft, cfg.num_frames,
                                 cfg.dim, cfg.depth, feature_hop=fe.hop_length,
                                 window_features=cfg.num_frames)

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        """(n, samples) -> (n, n_mels, frames) mel dB: the MFCC up to its per-window floor."""
        return self.frontend.log_mel(audio)

    def tokens(self, feats: torch.Tensor) -> torch.Tensor:
        """(n, n_mels, 98) mel dB of windows -> (n, 98, dim): floor and DCT per window, stem."""
        return self.patchify(self.frontend.cepstra(feats))

    def patchify(self, mfcc: torch.Tensor) -> torch.Tensor:
        """(n, n_mfcc, frames) features -> (n, frames, dim) tokens: one 40 x 1 patch a frame."""
        return self.stem(mfcc.transpose(1, 2))  # (n, 40, 98) -> (n, 98, 40) -> (n, 98, 64)

    def classify(self, mfcc: torch.Tensor) -> torch.Tensor:
        """(n, n_mfcc, num_frames) features -> (n, num_classes) logits."""
        x = self.patchify(mfcc)  # (n, 98, 64)
        for block, keep in zip(self.blocks, self._blocks_kept()):
            if keep:
                x = block(x)
        return self.head(self.norm(x).mean(dim=1))  # mean over tokens -> (n, 35)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.classify(self.frontend(audio))

    def _blocks_kept(self) -> list[bool]:
        """Stochastic depth: in training each block survives with `survival_prob` (one draw
        per forward for the whole batch, at least one block kept, no rescaling)."""
        if not self.training or self.cfg.survival_prob >= 1.0:
            return [True] * self.cfg.depth
        keep = torch.rand(self.cfg.depth) <= self.cfg.survival_prob
        if not keep.any():
            keep[torch.randint(self.cfg.depth, ())] = True
        return keep.tolist()
