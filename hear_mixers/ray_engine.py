"""`hear-mixers embed --engine ray`: the same embeddings on Ray Data, on one machine or a
cluster (docs/cluster.md). Needs the extra: pip install "hear_mixers[ray]".

The pipeline:
  files (local paths, or URIs of any filesystem pyarrow reads: s3://, gs://, hdfs://, file://)
  -> decode: CPU tasks read a file, downmix and resample it to the model's rate (files longer
     than cli.LONG_SECONDS are left to the actor, which streams them in pieces)
  -> embed: an actor pool, one model per actor (one GPU each where the cluster has GPUs)
  -> the driver writes the rows as Parquet shards (hear_mixers.outputs), each atomically.
A rerun embeds only the files whose names are in no shard. Ray retries the tasks of a worker
that dies and restarts a killed actor, and the driver sees each task's output once, when the
task has finished, so a killed worker loses nothing and duplicates nothing; a stopped driver
leaves whole shards only.
"""

import io
import logging
import os
import signal
import sys
from pathlib import Path

import numpy as np
import torch

from hear_mixers import cli, outputs
from hear_mixers.audio_io import AudioReader, find_audio, first_line, readable_suffixes
from hear_mixers.shipped import sha256_file

OBJECT_STORE_BYTES = 1 << 30  # object store of a local instance (tests start a smaller one)
DECODE_MEMORY_BYTES = 512 << 20  # reserved per decode task (its worker imports torch)
KILL_ACTOR_ENV = "HEAR_MIXERS_TEST_KILL_ACTOR"  # tests: a marker path; see _Embed.__call__
KILL_DECODER_ENV = "HEAR_MIXERS_TEST_KILL_DECODER"


def embed(args) -> int:
    try:
        import ray
        import ray.data
    except ImportError as e:
        raise cli.UsageError(f"--engine ray needs Ray Data ({e}): pip install "
                             "'hear_mixers[ray]'") from None
    if "://" in str(args.out):
        raise cli.UsageError("--out: the driver writes the shards to a local (or mounted) "
                             f"folder, got {args.out}")
    _, model, weights = cli.load(args.model, args.depth, "cpu", args.precision)  # checks it early
    # "auto" is resolved here, once: every actor runs in the driver's choice, whatever its CPU
    args.precision = model.precision_on(torch.device("cpu"))
    files, ignored = list_inputs(args.inputs, args.ext)
    out = Path(args.out)
    config = outputs.run_config(args.model, model, sha256_file(weights), args.mode, "parquet")

    started = not ray.is_initialized()
    if started:
        _start(ray, args)
    try:
        output = cli.open_output(out, config, args.overwrite)
        if args.shard_rows:
            output.shard_rows = args.shard_rows
        todo = [(path, name) for path, name in files if args.overwrite
                or output.status(name) == "missing"]
        skipped = len(files) - len(todo)
        failed, progress = [], cli.Progress(len(todo), args.progress_interval)
        try:
            if todo:
                for batch in _dataset(ray, args, model, todo).iter_batches(
                        batch_size=None, batch_format="numpy"):
                    failed += _write(batch, output, progress)
            output.close()
        except KeyboardInterrupt:
            progress.close()
            output.close()
            print(f"hear-mixers: interrupted after {progress.done} of {len(todo)} files; run "
                  "the same command again to embed the rest", file=sys.stderr)
            return 130
        progress.close()
    finally:
        if started:
            ray.shutdown()
    print(f"embedded {len(todo) - len(failed)} files into {out}, skipped {skipped} already "
          f"there, {len(failed)} failed" + cli.ignored_note(ignored))
    for path, reason in failed:
        print(f"failed: {path}: {reason}", file=sys.stderr)
    return 1 if failed else 0


def _start(ray, args) -> None:
    """Connect to --address, or start a local instance; a clear error when it fails."""
    try:
        ray.init(**_init_options(args))
    except Exception as e:  # ConnectionError, AuthenticationError, RuntimeError, ...
        where = f"the Ray cluster at {args.address}" if args.address else "a local Ray instance"
        hint = (" If the cluster uses token authentication, set RAY_AUTH_MODE=token here (with "
                "its token in RAY_AUTH_TOKEN or ~/.ray/auth_token), as on its nodes "
                "(docs/cluster.md)." if args.address else "")
        raise cli.UsageError(f"cannot reach {where}: {first_line(e)}.{hint}") from None


def _init_options(args) -> dict:
    if args.address:
        return {"address": args.address, "log_to_driver": True}
    cores = len(os.sched_getaffinity(0))
    workers, threads = args.workers or 2, args.threads or 1
    # the actors reserve their threads' CPUs; one CPU more so that decoding can run
    return {"num_cpus": max(cores, workers * threads + 1), "include_dashboard": False,
            "object_store_memory": OBJECT_STORE_BYTES}


def _dataset(ray, args, model, todo):
    """The Ray Data pipeline over `todo`: decode tasks, then the embedding actors."""
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = sys.stderr.isatty()
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    gpus = ray.cluster_resources().get("GPU", 0)
    if args.device == "cuda" and not gpus:
        raise cli.UsageError("--device cuda: the Ray cluster has no GPU")
    workers = args.workers or (int(gpus) if gpus else 2)
    threads = args.threads or 1
    env = {k: os.environ[k] for k in (KILL_ACTOR_ENV, KILL_DECODER_ENV) if k in os.environ}
    items = [{"path": str(path), "name": Path(name).as_posix()} for path, name in todo]
    dataset = ray.data.from_items(items, override_num_blocks=min(len(items), 4 * workers * 8))
    # memory: what a decode task's worker may hold (torch, imported with hear_mixers, and a
    # file of up to LONG_SECONDS decoded). A resource the actors do not ask for, it also keeps
    # Ray Data from fusing decoding into the actors: decoding stays in CPU tasks beside the
    # models (with GPU actors, off the GPU's path). A task whose worker dies is run again
    # (Ray's default: 3 times).
    dataset = dataset.map(
        _decode, fn_kwargs={"sample_rate": model.sample_rate}, num_cpus=1,
        memory=DECODE_MEMORY_BYTES, runtime_env={"env_vars": env} if env else None)
    resources = {"num_gpus": 1} if gpus else {"num_cpus": threads}
    return dataset.map_batches(
        _Embed, batch_format="numpy", batch_size=args.batch_size,
        compute=ray.data.ActorPoolStrategy(size=workers),
        fn_constructor_kwargs={"model": args.model, "depth": args.depth, "mode": args.mode,
                               "device": "cuda" if gpus else "cpu", "threads": threads,
                               "precision": args.precision},
        runtime_env={"env_vars": env} if env else None, **resources)


def list_inputs(inputs, suffixes):
    """FILES_OR_DIRS, local or URIs -> ([(path or URI, output name)], files skipped by suffix)."""
    local = [i for i in inputs if "://" not in str(i)]
    files, ignored = find_audio(local, suffixes) if local else ([], None)
    from collections import Counter

    ignored = ignored or Counter()
    wanted = set(suffixes or readable_suffixes())
    for uri in (i for i in inputs if "://" in str(i)):
        found, skipped = _list_uri(uri, wanted)
        files += found
        ignored.update(skipped)
    if not files:
        raise cli.UsageError(f"no audio files in {' '.join(map(str, inputs))}"
                             + cli.ignored_note(ignored))
    cli._check_unique(files)
    return files, ignored


def _list_uri(uri: str, suffixes: set):
    """A file or folder URI -> ([(file URI, output name)], skipped Counter), via pyarrow.fs."""
    from collections import Counter

    import pyarrow.fs as pafs

    try:
        fs, root = pafs.FileSystem.from_uri(uri)
        info = fs.get_file_info(root)
    except Exception as e:
        raise cli.UsageError(f"cannot open {uri}: {first_line(e)}") from None
    scheme = uri.split("://")[0] + "://"
    if info.type == pafs.FileType.File:
        return [(uri, Path(Path(root).stem))], Counter()
    if info.type != pafs.FileType.Directory:
        raise cli.UsageError(f"no such file or folder: {uri}")
    found, skipped = [], Counter()
    for entry in sorted(fs.get_file_info(pafs.FileSelector(root, recursive=True)),
                        key=lambda e: e.path):
        if entry.type != pafs.FileType.File:
            continue
        suffix = Path(entry.path).suffix.lower()
        if suffix in suffixes:
            name = Path(entry.path).relative_to(root).with_suffix("")
            found.append((scheme + entry.path if scheme != "file://" else
                          "file://" + entry.path, name))
        else:
            skipped[suffix or "(none)"] += 1
    return found, skipped


def _open(path: str):
    """A local path, or a seekable pyarrow file for a URI."""
    if "://" not in path:
        return path
    import pyarrow.fs as pafs

    fs, inner = pafs.FileSystem.from_uri(path)
    return fs.open_input_file(inner)


def _decode(row: dict, sample_rate: int) -> dict:
    """A Ray task: one file -> its audio at `sample_rate` (empty for a long file, which the
    actor streams; and for a file that failed, with the reason in "error")."""
    _maybe_die(KILL_DECODER_ENV)
    result = {**row, "audio": np.zeros(0, np.float32), "duration_s": 0.0, "sample_rate": 0,
              "long": False, "error": ""}
    try:
        source = _open(row["path"])
        if not isinstance(source, str):  # remote: small files come whole, in memory
            source = source if _size(source) > 64 << 20 else io.BytesIO(source.read())
        reader = AudioReader(source, sample_rate)
        result.update(duration_s=reader.duration, sample_rate=reader.rate)
        if reader.duration > cli.LONG_SECONDS:
            result["long"] = True
        else:
            result["audio"] = reader.read()  # (N,) float32
    except ValueError as e:
        result["error"] = str(e)
    except Exception as e:  # a filesystem error: report it with the file
        result["error"] = f"unreadable: {first_line(e)}"
    return result


def _size(f) -> int:
    try:
        return f.size()
    except Exception:
        return 0


class _Embed:
    """A Ray actor: one model; a batch of decoded files -> their embeddings."""

    def __init__(self, model: str, depth, mode: str, device: str, threads: int, precision: str):
        torch.set_num_threads(threads)
        self.module, self.model, _ = cli.load(model, depth, device, precision)
        self.mode, self.calls = mode, 0

    def __call__(self, batch: dict) -> dict:
        from hear_mixers.streaming import embed_blocks

        n = len(batch["name"])
        rows = [{k: batch[k][i] for k in ("name", "path", "duration_s", "sample_rate", "error")}
                for i in range(n)]
        groups = {}
        for i, row in enumerate(rows):
            for key in ("embedding", "timestamps", "frames"):  # empty: not in this mode
                row[key] = np.zeros(0, np.float32)
            if row["error"]:
                continue
            if batch["long"][i]:  # streamed here, in pieces
                try:
                    reader = AudioReader(_open(str(row["path"])), self.model.sample_rate)
                    result = embed_blocks(reader.blocks(), self.model, self.mode,
                                          reader.output_samples())
                    row.update(result)
                except (ValueError, RuntimeError) as e:
                    row["error"] = f"embedding failed: {first_line(e)}"
                continue
            groups.setdefault(len(batch["audio"][i]), []).append(i)
        for indices in groups.values():  # clips of one length go through the model together
            audio = np.stack([np.asarray(batch["audio"][i], np.float32) for i in indices])
            try:
                arrays = cli._embed(_tensor(audio), self.module, self.model, self.mode)
            except (ValueError, RuntimeError) as e:
                for i in indices:
                    rows[i]["error"] = f"embedding failed: {first_line(e)}"
                continue
            for j, i in enumerate(indices):
                rows[i].update({key: array[j] for key, array in arrays.items()})
        self.calls += 1
        _maybe_die(KILL_ACTOR_ENV, self.calls)
        return {key: _column([row[key] for row in rows]) for key in rows[0]}


def _tensor(audio: np.ndarray):
    return torch.from_numpy(audio)  # (B, N)


def _column(values: list) -> np.ndarray:
    """A batch column; arrays of different shapes go in an object array."""
    if isinstance(values[0], np.ndarray):
        column = np.empty(len(values), dtype=object)
        column[:] = values
        return column
    return np.asarray(values)


def _maybe_die(variable: str, calls: int = 2) -> None:
    """Tests: the first process to get here on its 2nd call, while the marker file named by
    `variable` does not exist, creates it and kills itself (SIGKILL, as the OOM killer or a
    lost node would): Ray must retry its work elsewhere without loss or duplicates."""
    marker = os.environ.get(variable)
    if not marker or calls < 2:
        return
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # once, across processes
    except FileExistsError:
        return
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)


def _write(batch: dict, output, progress) -> list:
    """One batch of embedded rows -> the output's shards; returns (path, reason) failures."""
    failed = []
    for i in range(len(batch["name"])):
        if batch["error"][i]:
            failed.append((batch["path"][i], batch["error"][i]))
        else:
            timestamps, frames = (batch[k][i] if len(batch[k][i]) else None
                                  for k in ("timestamps", "frames"))
            embedding = np.asarray(batch["embedding"][i], np.float32)
            output.write({"name": str(batch["name"][i]), "path": str(batch["path"][i]),
                          "duration_s": float(batch["duration_s"][i]),
                          "sample_rate": int(batch["sample_rate"][i]),
                          "embedding": embedding, "timestamps": timestamps, "frames": frames})
        progress.advance()
    return failed
