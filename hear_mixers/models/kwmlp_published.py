"""The published kwmlp checkpoint (HEAR 2021 `kwmlp`, weights CC BY-SA 4.0) read as our KW-MLP.

The file is a `torch.save` of {"model_state_dict": ...} (or the bare state dict) with the
original key names; the config is inferred from the tensor shapes. `hear_mixers.checkpoint`
builds the model from what `from_published` returns, strictly.
"""

import re

import torch

from hear_mixers.models.kwmlp import KWMLPConfig

SOURCE = "published kwmlp checkpoint (weights CC BY-SA 4.0)"

# published key -> our key; the SGU projection was a Conv1d(98, 98, 1), ours is a Linear
KEYS = [
    (r"to_patch_embed\.1\.", "stem."),
    (r"layers\.(\d+)\.fn\.norm\.", r"blocks.\1.norm."),
    (r"layers\.(\d+)\.fn\.fn\.proj_in\.0\.", r"blocks.\1.proj_in."),
    (r"layers\.(\d+)\.fn\.fn\.sgu\.", r"blocks.\1.sgu."),
    (r"layers\.(\d+)\.fn\.fn\.proj_out\.", r"blocks.\1.proj_out."),
    (r"to_logits\.0\.", "norm."),
    (r"to_logits\.2\.", "head."),
]


def is_published(obj: dict) -> bool:
    """Whether a loaded checkpoint dict is in the published format."""
    return "model_state_dict" in obj or any(
        isinstance(k, str) and k.startswith("to_patch_embed.") for k in obj
    )


def from_published(obj: dict) -> tuple[KWMLPConfig, dict]:
    """A published checkpoint dict -> (config, state dict with our key names).
    ValueError names what does not fit."""
    state = obj.get("model_state_dict", obj)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError("'model_state_dict' is not a dict of tensors")
    renamed = {}
    for key, value in state.items():
        for pattern, repl in KEYS:
            new, hits = re.subn("^" + pattern, repl, key)
            if hits:
                break
        else:
            raise ValueError(f"unexpected key {key!r} for a kwmlp checkpoint")
        if new.endswith("sgu.proj.weight") and value.ndim == 3:
            value = value.squeeze(-1)  # (98, 98, 1) -> (98, 98)
        renamed[new] = value
    try:
        dim, n_mfcc = renamed["stem.weight"].shape
        cfg = KWMLPConfig(
            num_frames=renamed["blocks.0.sgu.proj.weight"].shape[0],
            dim=dim,
            depth=1 + max(int(k.split(".")[1]) for k in renamed if k.startswith("blocks.")),
            ff_mult=renamed["blocks.0.proj_in.weight"].shape[0] // dim,
            num_classes=renamed["head.weight"].shape[0],
        )
    except (KeyError, ValueError, IndexError) as e:
        raise ValueError(f"incomplete kwmlp state dict ({e!r} missing)") from None
    if n_mfcc != cfg.frontend.n_mfcc:
        raise ValueError(f"kwmlp patch embedding expects {n_mfcc} MFCCs, not 40")
    return cfg, renamed
