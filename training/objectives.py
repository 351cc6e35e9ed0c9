"""The general trainer's objectives: supervised heads and a contrastive view objective.

Supervised: one linear head per label head on the clip embedding (the encoder's final
LayerNorm output averaged over tokens), cross-entropy with label smoothing over the rows
whose label applies (-1 = the head does not apply to that clip). Heads are averaged with
equal weight; a head with no labelled row in a batch adds an exact zero, so the graph is
the same every step.

Self-supervised: InfoNCE between two augmented crops of the same clip, the other clips of
the batch being the negatives, with the key crop encoded by an exponential moving average
(EMA) of the online encoder (MoCo v3 without its symmetric second pass). Chosen for this
CPU: the query is the online pass the supervised heads already use, so the objective adds
one forward pass without gradients (about a third of a training step), where SimCLR's
symmetric NT-Xent needs a second forward and backward and BYOL's symmetric loss both;
and unlike BYOL's regression to a target, a contrastive loss cannot collapse to a constant
embedding, so it needs no careful predictor or momentum tuning to stay stable.
"""

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# name -> (supervised heads on, contrastive objective on): the ablation
OBJECTIVES = {"all": (True, True), "supervised": (True, False), "ssl": (False, True)}


@dataclass(frozen=True)
class ObjectiveConfig:
    objectives: str = "all"  # a key of OBJECTIVES
    supervised_weight: float = 1.0
    ssl_weight: float = 1.0
    label_smoothing: float = 0.1
    temperature: float = 0.2  # InfoNCE (MoCo v3's value)
    ema_momentum: float = 0.99  # target = m * target + (1 - m) * online, every step
    proj_hidden: int = 256
    proj_dim: int = 128

    def __post_init__(self):
        if self.objectives not in OBJECTIVES:
            raise ValueError(f"objectives must be one of {sorted(OBJECTIVES)}, got {self.objectives!r}")

    @property
    def supervised(self) -> bool:
        return OBJECTIVES[self.objectives][0]

    @property
    def ssl(self) -> bool:
        return OBJECTIVES[self.objectives][1]


def masked_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, smoothing: float) -> torch.Tensor:
    """(n, classes) logits, (n,) labels with -1 = no label -> mean loss over labelled rows
    (an exact zero, still attached to the graph, when no row is labelled)."""
    valid = labels >= 0
    per_row = F.cross_entropy(logits.float(), labels.clamp_min(0), reduction="none",
                              label_smoothing=smoothing)  # (n,)
    return (per_row * valid).sum() / valid.sum().clamp_min(1)


def info_nce(query: torch.Tensor, key: torch.Tensor, temperature: float) -> torch.Tensor:
    """(n, d) queries and (n, d) keys, row i of each from the same clip -> InfoNCE loss,
    scaled by 2 * temperature as in MoCo v3 (so its gradient scale does not depend on it)."""
    q, k = F.normalize(query.float(), dim=1), F.normalize(key.float(), dim=1)
    logits = q @ k.T / temperature  # (n, n): the diagonal holds the positives
    target = torch.arange(len(q), device=q.device)
    return 2 * temperature * F.cross_entropy(logits, target)


def mlp(width: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(width, hidden), nn.LayerNorm(hidden), nn.GELU(), nn.Linear(hidden, out))


class GeneralModel(nn.Module):
    """An ASM encoder with a linear head per label head, a projector and predictor for the
    contrastive objective, and (when it is on) their EMA target. The ASM's own `head` is
    the head of `primary` (so the exported checkpoint classifies it)."""

    def __init__(self, encoder: nn.Module, heads: dict[str, int], primary: str, cfg: ObjectiveConfig):
        super().__init__()
        if primary not in heads or heads[primary] != encoder.cfg.num_classes:
            raise ValueError(f"primary head {primary!r} must be one of the heads with the "
                             f"encoder's {encoder.cfg.num_classes} classes")
        self.cfg, self.primary = cfg, primary
        self.encoder = encoder
        dim = encoder.cfg.dim
        self.heads = nn.ModuleDict({name: nn.Linear(dim, n) for name, n in heads.items() if name != primary})
        self.projector = mlp(dim, cfg.proj_hidden, cfg.proj_dim) if cfg.ssl else None
        self.predictor = mlp(cfg.proj_dim, cfg.proj_hidden, cfg.proj_dim) if cfg.ssl else None
        if cfg.ssl:  # the EMA target: not trained by the optimiser, saved with the model
            self.target_encoder = copy.deepcopy(encoder).requires_grad_(False)
            self.target_projector = copy.deepcopy(self.projector).requires_grad_(False)

    def head(self, name: str) -> nn.Linear:
        return self.encoder.head if name == self.primary else self.heads[name]

    def trained_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    @staticmethod
    def embed(encoder: nn.Module, feats: torch.Tensor) -> torch.Tensor:
        """(n, mel, frames) normalised features -> (n, dim) clip embedding."""
        with torch.autocast(feats.device.type, enabled=False):  # CPU bf16 convolution is
            x = encoder.patchify(feats.float())  # slower than fp32 here: (n, tokens, dim)
        for block in encoder.blocks:
            x = block(x)
        return encoder.norm(x).mean(dim=1)

    def losses(self, view_a: torch.Tensor, view_b, labels: dict[str, torch.Tensor]) -> dict:
        """Named losses (and "total", their weighted sum) of one batch: the supervised heads
        on view a; InfoNCE between view a (online) and view b (EMA target)."""
        out, total = {}, 0.0
        emb = self.embed(self.encoder, view_a)  # (n, dim)
        if self.cfg.supervised:
            names = [self.primary, *self.heads]
            for name in names:
                out[name] = masked_cross_entropy(self.head(name)(emb), labels[name], self.cfg.label_smoothing)
            total = total + self.cfg.supervised_weight * sum(out[n] for n in names) / len(names)
        if self.cfg.ssl:
            query = self.predictor(self.projector(emb))
            with torch.no_grad():
                key = self.target_projector(self.embed(self.target_encoder, view_b))
            out["ssl"] = info_nce(query, key, self.cfg.temperature)
            total = total + self.cfg.ssl_weight * out["ssl"]
        out["total"] = total
        return out

    @torch.no_grad()
    def update_target(self) -> None:
        """target <- m * target + (1 - m) * online (no-op without the contrastive objective)."""
        if not self.cfg.ssl:
            return
        m = self.cfg.ema_momentum
        for online, target in ((self.encoder, self.target_encoder), (self.projector, self.target_projector)):
            t_params, o_params = list(target.parameters()), list(online.parameters())
            torch._foreach_mul_(t_params, m)
            torch._foreach_add_(t_params, o_params, alpha=1 - m)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.cfg.ssl:  # the target encodes without stochastic depth
            self.target_encoder.eval()
            self.target_projector.eval()
        return self
