"""hear-mixers: embed audio files with a hear_mixers model; list the installed models.

    hear-mixers embed FILES_OR_DIRS... --out DIR [--model kwmlp] [--depth 8]
                      [--scene | --timestamps | --both] [--format npy|parquet]
                      [--ext wav,mp3]
                      [--device cpu|cuda] [--batch-size N] [--threads N]
                      [--progress-interval S] [--overwrite]
                      [--engine local|ray [--address ADDR] [--workers N]]
    hear-mixers info
    hear-mixers variants [--markdown]

Folders are searched for every format the installed libsndfile reads (--ext narrows or widens
the search); files given directly are read whatever their suffix. Each input file is named by
its path relative to the folder it was found in (a file given directly: its name), without
the suffix: `in/a/x.wav` -> `a/x`. With --format npy (the default of the local engine), float32
.npy outputs under DIR:
    --scene (default)  DIR/a/x.npy             (scene_embedding_size,)
    --timestamps       DIR/a/x.npy             (T, timestamp_embedding_size)
                       DIR/a/x.timestamps.npy  (T,) frame centres in milliseconds
    --both             DIR/a/x.npy (scene), DIR/a/x.frames.npy (T, D), DIR/a/x.timestamps.npy
With --format parquet (the only format of --engine ray), Parquet shards DIR/part-*.parquet of
one row per file (hear_mixers.outputs describes the columns). DIR/_hear_mixers.json records
the configuration that wrote the folder; a run with another one is refused unless
--overwrite. Outputs are written under a temporary name and renamed, so an output that exists
is complete; files whose outputs exist are skipped (--overwrite redoes them), so a stopped
run (Ctrl-C) resumes when run again. Long files are read, resampled and embedded in pieces
(memory does not grow with their length), with the embeddings of the whole file.
Exit status: 0 when every file is embedded or already was, 1 when some could not be (listed
at the end), 2 for a usage error (no input files, unknown model, clashing output names, a
folder written by another configuration, ...), 130 when interrupted.
"""

import argparse
import importlib
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
from tqdm import tqdm

from hear_mixers import outputs
from hear_mixers.api import AUTO, PRECISIONS
from hear_mixers.audio_io import AudioReader, duration, find_audio, first_line, parse_suffixes
from hear_mixers.shipped import sha256_file, shipped_sums, shipped_weights, weights_dir
from hear_mixers.streaming import embed_blocks
from hear_mixers.variants import DEFAULT, VARIANTS, markdown_table, modules

MAX_BATCH_SECONDS = 600.0  # audio per batch (more only for a single longer file)
LONG_SECONDS = 120.0  # files longer than this are streamed alone, in pieces, with progress


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

    embed = commands.add_parser("embed", help="write embeddings of audio files (.npy, Parquet)")
    embed.add_argument("inputs", nargs="+", metavar="FILES_OR_DIRS",
                       help="audio files, and folders searched for the formats libsndfile reads")
    embed.add_argument("--out", required=True, help="output folder")
    embed.add_argument("--model", default=DEFAULT,
                       help=f"variant ({', '.join(VARIANTS)}) or a checkpoint file")
    embed.add_argument("--depth", type=_depth, default=None,
                       help="block(s) giving the embedding: 8, or 4,8,12 (concatenated)")
    mode = embed.add_mutually_exclusive_group()
    mode.add_argument("--scene", dest="mode", action="store_const", const="scene",
                      help="one scene embedding per file (default)")
    mode.add_argument("--timestamps", dest="mode", action="store_const", const="timestamps",
                      help="timestamp embeddings and their times (ms) per file")
    mode.add_argument("--both", dest="mode", action="store_const", const="both",
                      help="the scene embedding and the timestamp embeddings with their "
                           "times per file, from one pass of the model")
    embed.set_defaults(mode="scene", run=embed_files)
    embed.add_argument("--format", choices=["npy", "parquet"], default=None,
                       help="npy (one file per input; local default) or parquet shards")
    embed.add_argument("--shard-rows", type=_positive, default=None, metavar="N",
                       help=f"--format parquet: rows per shard (default {outputs.SHARD_ROWS})")
    embed.add_argument("--ext", type=_suffixes, default=None, metavar="SUFFIXES",
                       help="folder search: only these suffixes (wav,mp3), or +xyz to add one "
                            "to every suffix libsndfile reads (the default)")
    embed.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    embed.add_argument("--precision", choices=[*PRECISIONS, AUTO], default=None,
                       help="the model's precision option (default: the variant's own; the "
                            "general, asmrh and asm have auto: bf16 on a CPU with native bf16)")
    embed.add_argument("--batch-size", type=_positive, default=16, help="files per batch")
    embed.add_argument("--threads", type=_positive, default=None,
                       help="torch threads (default: the cores this process may use; "
                            "--engine ray: per actor, default 1)")
    embed.add_argument("--progress-interval", type=float, default=10.0, metavar="SECONDS",
                       help="seconds between progress lines when stderr is not a terminal")
    embed.add_argument("--overwrite", action="store_true",
                       help="redo files whose outputs exist (and accept another configuration)")
    embed.add_argument("--engine", choices=["local", "ray"], default="local",
                       help="local: this process; ray: Ray Data (pip install hear_mixers[ray])")
    embed.add_argument("--address", default=None,
                       help="--engine ray: a running cluster (ray start --head prints it); "
                            "default: a local instance")
    embed.add_argument("--workers", type=_positive, default=None,
                       help="--engine ray: embedding actors, one model each (default: one per "
                            "GPU, or 2 without GPUs)")

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


def _suffixes(text: str) -> tuple:
    try:
        return parse_suffixes(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))


# ---- embed ----------------------------------------------------------------------------------


def embed_files(args) -> int:
    args.format = args.format or ("parquet" if args.engine == "ray" else "npy")
    if args.engine == "local" and (args.address or args.workers):
        raise UsageError("--address and --workers go with --engine ray")
    if args.format == "npy" and args.shard_rows:
        raise UsageError("--shard-rows goes with --format parquet")
    if args.engine == "ray":
        if args.format != "parquet":
            raise UsageError("--engine ray writes Parquet shards: drop --format npy")
        from hear_mixers import ray_engine

        return ray_engine.embed(args)  # --threads: per actor, default 1
    args.threads = args.threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(args.threads)
    module, model, weights = load(args.model, args.depth, args.device, args.precision)
    files, ignored = list_inputs(args.inputs, args.ext)
    out = Path(args.out)
    config = outputs.run_config(args.model, model, sha256_file(weights), args.mode, args.format)
    output = open_output(out, config, args.overwrite)
    if args.shard_rows:
        output.shard_rows = args.shard_rows

    todo, refused = [], []  # refused: outputs there that this run may not replace
    for path, name in files:
        status = output.status(name)
        if status == "missing" or args.overwrite:
            todo.append((path, name))
        elif status != "done":
            refused.append((path, status))
    skipped = len(files) - len(todo) - len(refused)

    failed, progress = [], Progress(len(todo), args.progress_interval)
    try:
        for batch in _batches(todo, args.batch_size):
            failed += _embed_batch(batch, module, model, output, args.mode, progress)
        output.close()
    except KeyboardInterrupt:
        progress.close()
        output.close()  # the files embedded so far stay (Parquet: the rows in hand)
        print(f"hear-mixers: interrupted after {progress.done} of {len(todo)} files; run the "
              "same command again to embed the rest", file=sys.stderr)
        return 130
    progress.close()

    print(f"embedded {len(todo) - len(failed)} files into {out}, skipped {skipped} "
          f"already there, {len(refused) + len(failed)} failed" + ignored_note(ignored))
    for path, reason in refused + failed:
        print(f"failed: {path}: {reason}", file=sys.stderr)
    return 1 if refused or failed else 0


def list_inputs(inputs, suffixes):
    """FILES_OR_DIRS -> ([(path, output name)], files skipped by suffix); usage errors."""
    try:
        files, ignored = find_audio(inputs, suffixes)
    except FileNotFoundError as e:
        raise UsageError(str(e)) from None
    if not files:
        raise UsageError(f"no audio files in {' '.join(map(str, inputs))}" + ignored_note(ignored))
    _check_unique(files)
    return files, ignored


def ignored_note(ignored: Counter) -> str:
    """'; 3 files ignored by suffix (.txt 2, .png 1; --ext widens the search)' or ''."""
    if not ignored:
        return ""
    kinds = ", ".join(f"{suffix} {n}" for suffix, n in ignored.most_common())
    return f"; {sum(ignored.values())} files ignored by suffix ({kinds}; --ext widens the search)"


def open_output(out: Path, config: dict, overwrite: bool):
    """The output folder, checked against its manifest: NpyOutput or ParquetOutput."""
    try:
        outputs.check_manifest(out, config, overwrite)
        if config["format"] == "parquet":
            return outputs.ParquetOutput(out, config["mode"], config, overwrite)
    except outputs.ConfigMismatch as e:
        raise UsageError(str(e)) from None
    except ImportError as e:
        raise UsageError(f"--format parquet needs pyarrow ({e}): pip install pyarrow") from None
    return outputs.NpyOutput(out, config["mode"], config["size"])


def load(name: str, depth, device: str, precision: str | None = None):
    """--model, --depth, --device, --precision -> (module with the HEAR functions, model on
    the device, weight file)."""
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available")
    options = {} if depth is None else {"depth": depth}
    if precision is not None:
        options["precision"] = precision
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
        weights = Path(path) if path else shipped_weights(VARIANTS[name].weights)
    except (ValueError, TypeError, FileNotFoundError) as e:
        raise UsageError(f"cannot load model {name!r}: {e}") from None
    return module, model.to(device), weights


def _check_unique(files) -> None:
    seen = {}
    for path, name in files:
        if name in seen:
            raise UsageError(
                f"{seen[name]} and {path} would both be written as {name}.npy; "
                "embed them into different --out folders"
            )
        seen[name] = path


def _batches(files, batch_size: int):
    """Files sorted by duration (so equal lengths share batches) in batches of at most
    `batch_size` files and MAX_BATCH_SECONDS of audio (a longer file goes alone)."""
    timed = sorted((duration(path), str(path), path, name) for path, name in files)
    batch, seconds = [], 0.0
    for length, _, path, name in timed:
        if batch and (len(batch) == batch_size or seconds + length > MAX_BATCH_SECONDS
                      or length > LONG_SECONDS):
            yield batch
            batch, seconds = [], 0.0
        batch.append((path, name))
        seconds += length
    if batch:
        yield batch


def _embed_batch(batch, module: ModuleType, model, output, mode: str, progress) -> list:
    """Read, embed and write one batch; returns (file, reason) for each file that failed."""
    if len(batch) == 1 and duration(batch[0][0]) > LONG_SECONDS:
        return _embed_long(*batch[0], model, output, mode, progress)
    failed, groups = [], {}
    for path, name in batch:
        try:
            reader = AudioReader(path, model.sample_rate)
            audio = reader.read()  # (N,)
        except ValueError as e:
            failed.append((path, str(e)))
            progress.advance()
            continue
        groups.setdefault(len(audio), []).append((path, name, reader, audio))
    for group in groups.values():  # clips of one length go through the model together
        audio = torch.from_numpy(np.stack([a for *_, a in group]))  # (B, N)
        try:
            arrays = _embed(audio, module, model, mode)
        except (ValueError, RuntimeError) as e:  # e.g. out of memory: report, go on
            failed += [(path, f"embedding failed: {first_line(e)}") for path, *_ in group]
            progress.advance(len(group))
            continue
        for i, (path, name, reader, _) in enumerate(group):
            output.write(_row(path, name, reader, {k: v[i] for k, v in arrays.items()}))
            progress.advance()
    return failed


def _embed_long(path, name, model, output, mode: str, progress) -> list:
    """One long file read, resampled and embedded in pieces, with progress inside it."""
    try:
        reader = AudioReader(path, model.sample_rate)
        progress.start_file(name, reader.duration)
        result = embed_blocks(reader.blocks(), model, mode, reader.output_samples(),
                              on_piece=lambda n: progress.within(n / model.sample_rate))
    except (ValueError, RuntimeError) as e:
        progress.advance()
        return [(path, str(e) if isinstance(e, ValueError) else
                 f"embedding failed: {first_line(e)}")]
    output.write(_row(path, name, reader, result))
    progress.advance()
    return []


def _row(path, name, reader, arrays: dict) -> dict:
    """An output row: the file's facts and its arrays (see `_embed`)."""
    return {"name": name, "path": path, "duration_s": reader.duration,
            "sample_rate": reader.rate, "timestamps": None, "frames": None, **arrays}


def _embed(audio: torch.Tensor, module: ModuleType, model, mode: str) -> dict:
    """(B, N) audio -> float32 arrays by mode: scene {"embedding": (B, D)}; timestamps
    {"embedding": (B, T, D), "timestamps": (B, T)}; both {"embedding": (B, D), "frames":
    (B, T, D), "timestamps": (B, T)}, from one pass of the model."""
    if mode == "scene":
        results = {"embedding": module.get_scene_embeddings(audio, model)}
    elif mode == "timestamps":
        results = dict(zip(("embedding", "timestamps"),
                           module.get_timestamp_embeddings(audio, model)))
    else:
        results = dict(zip(("frames", "timestamps", "embedding"),
                           module.get_timestamp_and_scene_embeddings(audio, model)))
    return {k: r.detach().cpu().float().numpy() for k, r in results.items()}


class Progress:
    """Files done, and seconds done inside a long file: tqdm bars on a terminal; otherwise a
    line on stderr at most every `interval` seconds (printed when the count moves)."""

    def __init__(self, total: int, interval: float, stream=None):
        stream = stream or sys.stderr  # looked up now: tests and callers may replace it
        self.total, self.interval, self.stream, self.done = total, interval, stream, 0
        self.tty = stream.isatty()
        self.started = self.last = time.monotonic()
        self.bar = tqdm(total=total, unit="file", file=stream) if self.tty else None
        self.inner, self.current = None, None  # the long file in progress: bar, (name, s)

    def advance(self, files: int = 1) -> None:
        self.done += files
        if self.inner is not None:
            self.inner.close()
        self.inner, self.current = None, None
        if self.bar is not None:
            self.bar.update(files)
        self._line()

    def start_file(self, name, seconds: float) -> None:
        self.current = (name, seconds, 0.0)
        if self.tty:
            self.inner = tqdm(total=round(seconds), unit="s", desc=str(name), leave=False,
                              file=self.stream)

    def within(self, seconds: float) -> None:
        if self.current is None:
            return
        if self.inner is not None:
            self.inner.update(round(seconds) - self.inner.n)
        self.current = (*self.current[:2], seconds)
        self._line()

    def _line(self) -> None:
        now = time.monotonic()
        if self.tty or now - self.last < self.interval:
            return
        self.last = now
        rate = self.done / max(now - self.started, 1e-9)
        line = f"progress: {self.done}/{self.total} files, {rate:.2f} files/s"
        if self.current is not None:
            name, seconds, done = self.current
            line += f"; {name}: {done:.0f} of {seconds:.0f} s"
        print(line, file=self.stream, flush=True)

    def close(self) -> None:
        for bar in (self.inner, self.bar):
            if bar is not None:
                bar.close()
        self.inner = self.bar = None


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
    # `python -m hear_mixers.cli` runs this file as __main__: run the imported module's main,
    # so that its errors (UsageError, raised by hear_mixers.ray_engine too) are one class
    from hear_mixers import cli as _cli

    sys.exit(_cli.main())
