"""The checkpoint file format: a model rebuilds from its file alone.

A hear_mixers checkpoint is a `torch.save` of plain data only (loads with
`weights_only=True`): {"format": "hear_mixers", "version": 1, "arch": "kwmlp",
"config": {...nested config dict...}, "state_dict": {...}, "meta": {...}}. `load_checkpoint`
also reads the published kwmlp file (`hear_mixers.models.kwmlp_published`) and checks shipped
files against their sha256 (`hear_mixers.shipped`).
"""

import dataclasses
import pickle
import typing
import zipfile
from pathlib import Path

import torch
from torch import nn

from hear_mixers.models import kwmlp_published
from hear_mixers.models.asm import ASM, ASMConfig
from hear_mixers.models.kwmlp import KWMLP, KWMLPConfig
from hear_mixers.shipped import verify_shipped

FORMAT = "hear_mixers"
VERSION = 1
ARCHS = {"kwmlp": (KWMLPConfig, KWMLP), "asm": (ASMConfig, ASM)}  # arch -> (config, model class)


def config_to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def config_from_dict(cls, data: dict):
    """Rebuild a (nested) frozen config dataclass; unknown or mistyped fields are errors."""
    if not isinstance(data, dict):
        raise ValueError(f"config for {cls.__name__} must be a dict, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields in checkpoint config: {unknown}")
    kwargs = {}
    for name, value in data.items():
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            value = config_from_dict(kind, value)
        elif kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif not isinstance(value, kind) or isinstance(value, bool) != (kind is bool):
            raise ValueError(f"{cls.__name__}.{name} must be {kind.__name__}, got {value!r}")
        kwargs[name] = value
    return cls(**kwargs)


def save_checkpoint(model: nn.Module, path, **meta) -> None:
    """Write `model` with its config; `meta` holds provenance (plain data only)."""
    _check_plain(meta, "meta")
    torch.save(
        {
            "format": FORMAT,
            "version": VERSION,
            "arch": model.arch,
            "config": config_to_dict(model.cfg),
            "state_dict": model.state_dict(),
            "meta": meta,
        },
        path,
    )


_PLAIN = (str, int, float, bool, type(None))


def _check_plain(value, where: str) -> None:
    """Refuse what `weights_only=True` could not read back (numpy scalars, str subclasses...)."""
    if type(value) in (dict, list, tuple):  # exact types: no subclasses
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(value, dict) and type(key) is not str:
                raise TypeError(f"{where}: key {key!r} is not a str")
            _check_plain(item, f"{where}[{key!r}]")
    elif type(value) not in _PLAIN:
        raise TypeError(f"{where} is a {type(value).__name__}; checkpoint metadata must be plain data")


def load_checkpoint(path) -> tuple[nn.Module, dict]:
    """Read a checkpoint file (ours, or the published kwmlp one) -> (model in eval mode, meta)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    verify_shipped(path)
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive (torch >= 1.6)
        raise ValueError(f"{path} is not a readable torch checkpoint: not a torch.save zip file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise ValueError(
            f"{path}: refused to load, it holds objects other than tensors and plain "
            f"containers (only weights_only checkpoints are read): {_first_line(e)}"
        ) from None
    except Exception as e:  # truncated zip, not a torch file at all, ...
        reason = _first_line(e)
        if "TorchScript" in str(e):
            reason = "it is a TorchScript archive (torch.jit.save); save a state dict instead"
        raise ValueError(f"{path} is not a readable torch checkpoint: {reason}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a dict checkpoint, got {type(obj).__name__}")

    if obj.get("format") == FORMAT:
        return _from_own(obj, path)
    if kwmlp_published.is_published(obj):
        try:
            cfg, state_dict = kwmlp_published.from_published(obj)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
        model = _build_strict(KWMLP, cfg, state_dict, path)
        return model, {"source": kwmlp_published.SOURCE, "trained": True}
    raise ValueError(
        f"{path}: not a hear_mixers checkpoint (no 'format': 'hear_mixers') nor a kwmlp "
        f"checkpoint (no 'model_state_dict'); top-level keys: {sorted(map(str, obj))[:8]}"
    )


def _first_line(error: Exception) -> str:
    """The line of a torch.load error that says what went wrong."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    reason = [line for line in lines if "Unsupported" in line]
    return (reason or lines or [type(error).__name__])[0]


def _from_own(obj: dict, path: Path) -> tuple[nn.Module, dict]:
    version = obj.get("version")
    if not isinstance(version, int) or not 1 <= version <= VERSION:
        raise ValueError(
            f"{path}: checkpoint format version {version!r} is not supported by this "
            f"hear_mixers (reads versions 1..{VERSION}); upgrade hear_mixers"
        )
    arch = obj.get("arch")
    if arch not in ARCHS:
        raise ValueError(f"{path}: unknown architecture {arch!r}; known: {sorted(ARCHS)}")
    cfg_cls, model_cls = ARCHS[arch]
    try:
        cfg = config_from_dict(cfg_cls, obj.get("config"))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: bad {arch} config: {e}") from None
    model = _build_strict(model_cls, cfg, obj.get("state_dict"), path)
    meta = obj.get("meta")
    return model, dict(meta) if isinstance(meta, dict) else {}


def _build_strict(model_cls, cfg, state_dict, path: Path) -> nn.Module:
    if not isinstance(state_dict, dict):
        raise ValueError(f"{path}: checkpoint has no state_dict")
    model = model_cls(cfg)
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as e:
        raise ValueError(
            f"{path}: weights do not fit {model_cls.__name__} with config {cfg}: {e}"
        ) from None
    return model.eval()
