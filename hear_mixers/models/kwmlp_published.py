"""The published kwmlp checkpoint (HEAR 2021 `kwmlp`, weights CC BY-SA 4.0) read as our KW-MLP.

The file is a `torch.save` of {"model_state_dict": ...} (or the bare state dict) with the
original key names; the config is inferred from the tensor shapes. `hear_mixers.checkpoint`
builds the model from what `from_published` returns. Errors name keys as the file does.
"""

import re
from typing import Optional

import torch

from hear_mixers.models.kwmlp import KWMLP, KWMLPConfig

SOURCE = "published kwmlp checkpoint (weights CC BY-SA 4.0)"

# (published prefix, our prefix); {i} is the block index. The SGU projection was a
# Conv1d(98, 98, 1), ours is a Linear: its weight loses the last axis.
KEYS = [
    ("to_patch_embed.1.", "stem."),
    ("layers.{i}.fn.norm.", "blocks.{i}.norm."),
    ("layers.{i}.fn.fn.proj_in.0.", "blocks.{i}.proj_in."),
    ("layers.{i}.fn.fn.sgu.", "blocks.{i}.sgu."),
    ("layers.{i}.fn.fn.proj_out.", "blocks.{i}.proj_out."),
    ("to_logits.0.", "norm."),
    ("to_logits.2.", "head."),
]


def _rename(key: str, published_to_ours: bool) -> Optional[str]:
    for published, ours in KEYS:
        source, target = (published, ours) if published_to_ours else (ours, published)
        match = re.match(re.escape(source).replace(re.escape("{i}"), r"(\d+)"), key)
        if match:
            index = match.group(1) if match.groups() else ""
            return target.replace("{i}", index) + key[match.end():]
    return None


def published_name(key: str) -> str:
    """Our key -> the published file's name for it."""
    return _rename(key, published_to_ours=False) or key


def is_published(obj: dict) -> bool:
    """Whether a loaded checkpoint dict is in the published format."""
    return "model_state_dict" in obj or any(
        isinstance(k, str) and k.startswith("to_patch_embed.") for k in obj
    )


def from_published(obj: dict) -> tuple[KWMLPConfig, dict]:
    """A published checkpoint dict -> (config, state dict with our key names).
    ValueError names what does not fit, by the file's own key names."""
    state = obj.get("model_state_dict", obj)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError("'model_state_dict' is not a dict of tensors")
    renamed = {}
    for key, value in state.items():
        new = _rename(key, published_to_ours=True)
        if new is None:
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
    except KeyError as e:
        raise ValueError(f"incomplete kwmlp state dict: {published_name(e.args[0])!r} "
                         "is missing") from None
    except (ValueError, IndexError) as e:
        raise ValueError(f"incomplete kwmlp state dict ({e})") from None
    if n_mfcc != cfg.frontend.n_mfcc:
        raise ValueError(f"kwmlp patch embedding expects {n_mfcc} MFCCs, not 40")
    expected = {k: v.shape for k, v in KWMLP(cfg).state_dict().items()}
    for key in expected:
        if key not in renamed:
            raise ValueError(f"incomplete kwmlp state dict: {published_name(key)!r} is missing")
        if renamed[key].shape != expected[key]:
            raise ValueError(
                f"{published_name(key)!r} has shape {tuple(state[published_name(key)].shape)}, "
                f"which does not fit the other tensors (a {cfg.depth}-block KW-MLP of width "
                f"{cfg.dim} over {cfg.num_frames} frames)"
            )
    return cfg, renamed
