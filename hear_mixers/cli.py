"""hear-mixers: embed audio files with a hear_mixers model; list the installed models.

    hear-mixers embed FILES_OR_DIRS... --out DIR [--model kwmlp] [--depth 8]
                      [--scene | --timestamps] [--device cpu|cuda] [--batch-size N] [--overwrite]
    hear-mixers info
    hear-mixers variants [--markdown]

Each input file gets float32 .npy outputs under DIR, named by its path relative to the folder
it was found in (a file given directly: its name), without the suffix: `in/a/x.wav` -> `a/x`.
    --scene (default)  DIR/a/x.npy             (scene_embedding_size,)
    --timestamps       DIR/a/x.npy             (T, timestamp_embedding_size)
                       DIR/a/x.timestamps.npy  (T,) frame centres in milliseconds
Outputs are written under a temporary name and renamed, so a file that exists is complete;
files whose outputs exist are skipped (--overwrite redoes them). Exit status: 0 when every
file is embedded or already was, 1 when some could not be (listed at the end), 2 for a
usage error (no input files, unknown model, clashing output names, ...).
"""

import argparse
import importlib
import json
import os
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
from tqdm import tqdm

from hear_mixers.audio_io import duration, find_audio, first_line, read_audio
from hear_mixers.shipped import sha256_file, shipped_sums, weights_dir
from hear_mixers.variants import DEFAULT, VARIANTS, markdown_table, modules

MAX_BATCH_SECONDS = 600.0  # audio per batch (more only for a single longer file)


class UsageError(Exception):
    """A problem with the command line itself: exit status 2."""


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except UsageError as e:
        print(f"hear-mixers: error: {e}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hear-mixers", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    embed = commands.add_parser("embed", help="write embeddings of audio files as .npy")
    embed.add_argument("inputs", nargs="+", metavar="FILES_OR_DIRS",
                       help="audio files, and folders searched for .wav/.flac/.ogg")
    embed.add_argument("--out", required=True, type=Path, help="output folder")
    embed.add_argument("--model", default=DEFAULT,
                       help=f"variant ({', '.join(VARIANTS)}) or a checkpoint file")
    embed.add_argument("--depth", type=_depth, default=None,
                       help="block(s) giving the embedding: 8, or 4,8,12 (concatenated)")
    mode = embed.add_mutually_exclusive_group()
    mode.add_argument("--scene", dest="mode", action="store_const", const="scene",
                      help="one scene embedding per file (default)")
    mode.add_argument("--timestamps", dest="mode", action="store_const", const="timestamps",
                      help="timestamp embeddings and their times (ms) per file")
    embed.set_defaults(mode="scene", run=embed_files)
    embed.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    embed.add_argument("--batch-size", type=_positive, default=16, help="files per batch")
    embed.add_argument("--overwrite", action="store_true", help="redo files whose outputs exist")

    info = commands.add_parser("info", help="list the variants, weight files and model cards")
    info.set_defaults(run=show_info)

    listing = commands.add_parser("variants", help="the HEAR module names, one a line")
    listing.add_argument("--markdown", action="store_true", help="the README's variants table")
    listing.set_defaults(run=list_variants)
    return parser


def _depth(text: str):
    try:
        depths = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a block number or a list like 4,8,12: {text!r}")
    return depths[0] if len(depths) == 1 else depths


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


# ---- embed ----------------------------------------------------------------------------------


def embed_files(args) -> int:
    module, model = _load(args.model, args.depth, args.device)
    try:
        files = find_audio(args.inputs)
    except FileNotFoundError as e:
        raise UsageError(str(e)) from None
    if not files:
        raise UsageError(f"no .wav/.flac/.ogg files in {' '.join(args.inputs)}")
    _check_unique(files)

    size = model.scene_embedding_size if args.mode == "scene" else model.timestamp_embedding_size
    todo, refused = [], []  # refused: outputs there that this run may not replace
    for path, name in files:
        status = _existing(args.out / name, args.mode, size)
        if status == "missing" or args.overwrite:
            todo.append((path, name))
        elif status != "done":
            refused.append((path, status))
    skipped = len(files) - len(todo) - len(refused)

    failed = []
    with tqdm(total=len(todo), unit="file", disable=None) as progress:
        for batch in _batches(todo, args.batch_size):
            failed += _embed_batch(batch, module, model, args.out, args.mode)
            progress.update(len(batch))

    print(f"embedded {len(todo) - len(failed)} files into {args.out}, skipped {skipped} "
          f"already there, {len(refused) + len(failed)} failed")
    for path, reason in refused + failed:
        print(f"failed: {path}: {reason}", file=sys.stderr)
    return 1 if refused or failed else 0


def _load(name: str, depth, device: str):
    """--model, --depth, --device -> (module with the HEAR functions, model on the device)."""
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available")
    options = {} if depth is None else {"depth": depth}
    if name in VARIANTS:
        module = importlib.import_module(VARIANTS[name].module)
        path = ""
    elif Path(name).is_file():
        module, path = importlib.import_module("hear_mixers"), name
    else:
        raise UsageError(
            f"unknown model {name!r}: give a variant ({', '.join(VARIANTS)}) or a checkpoint file"
        )
    try:
        model = module.load_model(path, **options)
    except (ValueError, TypeError, FileNotFoundError) as e:
        raise UsageError(f"cannot load model {name!r}: {e}") from None
    return module, model.to(device)


def _check_unique(files) -> None:
    seen = {}
    for path, name in files:
        if name in seen:
            raise UsageError(
                f"{seen[name]} and {path} would both be written as {name}.npy; "
                "embed them into different --out folders"
            )
        seen[name] = path


def _outputs(base: Path, mode: str) -> list[Path]:
    """The files a run writes for output name `base` (embeddings first)."""
    embeddings = base.with_name(base.name + ".npy")
    if mode == "scene":
        return [embeddings]
    return [embeddings, base.with_name(base.name + ".timestamps.npy")]


def _existing(base: Path, mode: str, size: int) -> str:
    """'done' when this mode's outputs exist with this model's size, 'missing' when some do not
    exist, otherwise why the existing ones cannot be kept or replaced without --overwrite."""
    outputs = _outputs(base, mode)
    if outputs[0].is_file():
        try:
            shape = np.load(outputs[0], mmap_mode="r").shape
        except (ValueError, OSError) as e:
            return f"{outputs[0]} exists but is not a .npy array ({e}); use --overwrite"
        ndim = 1 if mode == "scene" else 2
        if len(shape) != ndim or shape[-1] != size:
            return (
                f"{outputs[0]} exists with shape {shape}, not that of {mode} embeddings of size "
                f"{size}; use another --out or --overwrite"
            )
    return "done" if all(p.is_file() for p in outputs) else "missing"


def _batches(files, batch_size: int):
    """Files sorted by duration (so equal lengths share batches) in batches of at most
    `batch_size` files and MAX_BATCH_SECONDS of audio (a longer file goes alone)."""
    timed = sorted((duration(path), str(path), path, name) for path, name in files)
    batch, seconds = [], 0.0
    for length, _, path, name in timed:
        if batch and (len(batch) == batch_size or seconds + length > MAX_BATCH_SECONDS):
            yield batch
            batch, seconds = [], 0.0
        batch.append((path, name))
        seconds += length
    if batch:
        yield batch


def _embed_batch(batch, module: ModuleType, model, out: Path, mode: str) -> list:
    """Read, embed and write one batch; returns (file, reason) for each file that failed."""
    failed, groups = [], {}
    for path, name in batch:
        try:
            audio = read_audio(path, model.sample_rate)  # (N,)
        except ValueError as e:
            failed.append((path, str(e)))
            continue
        groups.setdefault(len(audio), []).append((path, name, audio))
    for group in groups.values():  # clips of one length go through the model together
        audio = torch.from_numpy(np.stack([a for _, _, a in group]))  # (B, N)
        try:
            arrays = _embed(audio, module, model, mode)
        except (ValueError, RuntimeError) as e:  # e.g. out of memory: report, go on
            failed += [(path, f"embedding failed: {first_line(e)}") for path, _, _ in group]
            continue
        for i, (_, name, _) in enumerate(group):
            for target, array in zip(_outputs(out / name, mode), arrays):
                _save_atomic(target, array[i])
    return failed


def _embed(audio: torch.Tensor, module: ModuleType, model, mode: str) -> list[np.ndarray]:
    """(B, N) audio -> [scene (B, D)] or [embeddings (B, T, D), timestamps (B, T)], float32."""
    if mode == "scene":
        results = [module.get_scene_embeddings(audio, model)]
    else:
        results = list(module.get_timestamp_embeddings(audio, model))
    return [r.detach().cpu().float().numpy() for r in results]


def _save_atomic(path: Path, array: np.ndarray) -> None:
    """Write `path` whole or not at all: a temporary file in the same folder, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")  # not *.npy: never taken for an output
    with open(partial, "wb") as f:
        np.save(f, np.ascontiguousarray(array, dtype=np.float32))
    os.replace(partial, path)


def list_variants(args) -> int:
    print(markdown_table() if args.markdown else "\n".join(modules()))
    return 0


# ---- info -----------------------------------------------------------------------------------


def show_info(args) -> int:
    print("variants (HEAR modules hear_mixers.<name>, shipped weights):")
    for name in VARIANTS:
        print("  " + _variant_line(name) + ("  (default)" if name == DEFAULT else ""))
    folder = weights_dir()
    print(f"weight files in {folder}:")
    sums = shipped_sums(folder)
    for path in sorted(folder.glob("*.pt")):
        size = path.stat().st_size / 1e6
        print(f"  {path.name}  {size:.1f} MB  sha256 {_sha_status(path, sums)}")
    print("model cards:")
    for card in sorted(folder.glob("*.eval.json")):
        print("  " + _card_line(card))
    return 0


def _variant_line(name: str) -> str:
    try:
        model = importlib.import_module(VARIANTS[name].module).load_model()
    except Exception as e:  # a missing or corrupted weight file: say so, list the rest
        return f"{name:<10} not available: {e}"
    params = sum(p.numel() for p in model.parameters())
    depth = ",".join(map(str, model.depths))
    return (
        f"{name:<10} depth {depth:<3} {model.sample_rate} Hz  timestamp embedding "
        f"{model.timestamp_embedding_size}  scene embedding {model.scene_embedding_size}  "
        f"{params:,} parameters"
    )


def _sha_status(path: Path, sums: dict) -> str:
    if path.name not in sums:
        return "not listed in SHA256SUMS"
    return "ok" if sha256_file(path) == sums[path.name] else "MISMATCH with SHA256SUMS"


def _card_line(card: Path) -> str:
    """A model card's headline figures: its numbers and small tables of numbers."""
    try:
        result = json.loads(card.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return f"{card.name}: unreadable ({e})"
    weights = card.parent / str(result.get("checkpoint", ""))
    same = weights.is_file() and sha256_file(weights) == result.get("sha256")
    figures = []
    for key, value in result.items():
        if _is_number(value):
            figures.append(f"{key} {_fmt(value)}")
        elif _is_small_table(value):
            figures.append(f"{key} " + " ".join(f"{k}:{_fmt(v)}" for k, v in value.items()))
    note = "" if same else " (measured on another version of this file)"
    return f"{card.name} for {result.get('checkpoint', '?')}{note}: " + "; ".join(figures)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_small_table(value) -> bool:
    """A dict of at most 5 numbers (e.g. accuracy per depth), not a long per-word table."""
    return isinstance(value, dict) and 0 < len(value) <= 5 and all(map(_is_number, value.values()))


def _fmt(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    sys.exit(main())
