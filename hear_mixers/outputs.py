"""Where embeddings go: an output folder, the manifest that records what wrote it, and the
two formats (one .npy per file, or Parquet shards).

The manifest, `_hear_mixers.json` in the folder, holds the run's configuration (model, weight
file sha256, depths, pooling, seam context, precision, mode, format, sample rate, package
version). A run whose configuration differs in anything that changes the embeddings (or in
mode or format) is refused, naming the difference, unless it overwrites.

Parquet: shards `part-<run>-<n>.parquet`, each written under a temporary name (hidden:
`.part-...partial`, which Parquet readers skip) and renamed, so a shard there is complete;
a file is done when its output name is in a shard. One row per input file: name (output
name), path, duration_s and sample_rate (of the file as read), model, weights_sha256,
depths, and embedding (scene: list<float32>; timestamps: list<list<float32>>, frames x
size) plus timestamps (list<float32>, ms) in timestamp mode; in "both" mode embedding is the
scene vector, frames the list<list<float32>> of timestamp embeddings, and timestamps.
pyarrow is imported only when Parquet is used.
"""

import json
import os
import time
from pathlib import Path

import numpy as np

MANIFEST = "_hear_mixers.json"  # "_": Parquet readers skip it when reading the folder
SHARD_GLOB = "part-*.parquet"
# keys that must agree between a folder and a run writing into it
COMPARED = ("weights_sha256", "depths", "scene_pooling", "seam_context", "precision",
            "sample_rate", "mode", "format")
SHARD_ROWS = 1000  # rows per Parquet shard at most
SHARD_FLOATS = 16 << 20  # and at most this many embedding values (64 MB of float32)


class ConfigMismatch(Exception):
    """The folder was written by another configuration; the message names the difference."""


def run_config(model_name: str, model, weights_sha256: str, mode: str, fmt: str) -> dict:
    from hear_mixers import __version__

    return {
        "model": model_name, "weights_sha256": weights_sha256, "depths": list(model.depths),
        "scene_pooling": model.scene_pooling, "seam_context": model.seam_context,
        # the precision the model runs in where it is ("auto" resolved: bf16 or fp32)
        "precision": model.precision_on(next(model.parameters()).device),
        "sample_rate": model.sample_rate, "mode": mode,
        "format": fmt, "version": __version__,
        # the size of the arrays in name.npy / the embedding column
        "size": model.timestamp_embedding_size if mode == "timestamps"
        else model.scene_embedding_size,
    }


def check_manifest(folder: Path, config: dict, overwrite: bool) -> None:
    """Refuse (ConfigMismatch) a folder whose manifest differs from `config` in a compared key,
    unless `overwrite`; then write `config` as the folder's manifest."""
    path = Path(folder) / MANIFEST
    if path.is_file() and not overwrite:
        try:
            there = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as e:
            raise ConfigMismatch(f"{path} is not a readable manifest ({e}); use another --out "
                                 "or --overwrite") from None
        differences = [f"{key} {there.get(key)!r} there, {config[key]!r} in this run"
                       for key in COMPARED if there.get(key) != config[key]]
        if differences:
            raise ConfigMismatch(
                f"{folder} holds embeddings of another configuration (written by model "
                f"{there.get('model')!r}, hear_mixers {there.get('version')}): "
                + "; ".join(differences)
                + ". Use another --out, or --overwrite to redo every file with this one"
            )
    Path(folder).mkdir(parents=True, exist_ok=True)
    _write_atomic(path, (json.dumps(config, indent=1) + "\n").encode())


def _write_atomic(path: Path, data: bytes) -> None:
    partial = path.with_name("." + path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


# ---- .npy: one file (two in timestamp mode, three in both) per input ----------------------

# the row keys of each mode, in the order of NpyOutput.paths; "" is name.npy
NPY_FILES = {
    "scene": {"embedding": ""},
    "timestamps": {"embedding": "", "timestamps": ".timestamps"},
    "both": {"embedding": "", "frames": ".frames", "timestamps": ".timestamps"},
}


class NpyOutput:
    """name -> DIR/name.npy (scene vector, or frames in timestamp mode), and per mode
    DIR/name.frames.npy and DIR/name.timestamps.npy (see NPY_FILES)."""

    def __init__(self, folder: Path, mode: str, size: int):
        self.folder, self.mode, self.size = Path(folder), mode, size

    def paths(self, name) -> list[Path]:
        base = self.folder / name
        return [base.with_name(base.name + suffix + ".npy")
                for suffix in NPY_FILES[self.mode].values()]

    def status(self, name) -> str:
        """'done' when this mode's outputs exist with this size, 'missing' when some do not
        exist, otherwise why the existing ones cannot be kept or replaced without --overwrite."""
        outputs = self.paths(name)
        if outputs[0].is_file():
            try:
                shape = np.load(outputs[0], mmap_mode="r").shape
            except (ValueError, OSError) as e:
                return f"{outputs[0]} exists but is not a .npy array ({e}); use --overwrite"
            ndim = 2 if self.mode == "timestamps" else 1
            if len(shape) != ndim or shape[-1] != self.size:
                return (f"{outputs[0]} exists with shape {shape}, not that of {self.mode} "
                        f"embeddings of size {self.size}; use another --out or --overwrite")
        return "done" if all(p.is_file() for p in outputs) else "missing"

    def write(self, row: dict) -> None:
        for target, key in zip(self.paths(row["name"]), NPY_FILES[self.mode]):
            save_npy_atomic(target, row[key])

    def close(self) -> None:
        pass


def save_npy_atomic(path: Path, array: np.ndarray) -> None:
    """Write `path` whole or not at all: a temporary file in the same folder, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")  # not *.npy: never taken for an output
    with open(partial, "wb") as f:
        np.save(f, np.ascontiguousarray(array, dtype=np.float32))
    os.replace(partial, path)


# ---- Parquet shards ------------------------------------------------------------------------


class ParquetOutput:
    """Rows buffered and written as shards of at most SHARD_ROWS rows / SHARD_FLOATS values."""

    def __init__(self, folder: Path, mode: str, config: dict, overwrite: bool = False,
                 shard_rows: int = SHARD_ROWS):
        self.folder, self.mode, self.config = Path(folder), mode, config
        self.shard_rows, self.rows, self.floats = shard_rows, [], 0
        self.run = f"{time.time_ns():x}-{os.getpid()}"  # unique among runs into the folder
        self.written = 0  # shards written by this run
        self.folder.mkdir(parents=True, exist_ok=True)
        if overwrite:  # redo everything: the old shards go
            for shard in self.folder.glob(SHARD_GLOB):
                shard.unlink()
        self.done = done_names(self.folder)

    def status(self, name) -> str:
        return "done" if str(name) in self.done else "missing"

    def write(self, row: dict) -> None:
        self.rows.append(row)
        self.floats += row["embedding"].size
        if len(self.rows) >= self.shard_rows or self.floats >= SHARD_FLOATS:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        table = rows_to_table(self.rows, self.mode, self.config)
        write_shard(table, self.folder / f"part-{self.run}-{self.written:05d}.parquet")
        self.done.update(str(r["name"]) for r in self.rows)
        self.rows, self.floats, self.written = [], 0, self.written + 1

    def close(self) -> None:
        self.flush()


def done_names(folder: Path) -> set:
    """Output names in the complete shards of `folder`."""
    import pyarrow.parquet as pq

    names = set()
    for shard in sorted(Path(folder).glob(SHARD_GLOB)):
        try:
            names.update(pq.read_table(shard, columns=["name"]).column("name").to_pylist())
        except Exception as e:  # not one of ours: say which
            raise ConfigMismatch(f"{shard} is not a readable hear_mixers shard ({e}); "
                                 "remove it or use another --out") from None
    return names


def write_shard(table, path: Path) -> None:
    import pyarrow.parquet as pq

    partial = path.with_name("." + path.name + ".partial")  # hidden from Parquet readers
    pq.write_table(table, partial)
    os.replace(partial, path)


def rows_to_table(rows: list, mode: str, config: dict):
    """Rows {name, path, duration_s, sample_rate, embedding[, timestamps]} -> a pyarrow Table."""
    import pyarrow as pa

    n = len(rows)
    columns = {
        "name": pa.array([str(r["name"]) for r in rows], pa.string()),
        "path": pa.array([str(r["path"]) for r in rows], pa.string()),
        "duration_s": pa.array([float(r["duration_s"]) for r in rows], pa.float64()),
        "sample_rate": pa.array([int(r["sample_rate"]) for r in rows], pa.int32()),
        "model": pa.array([config["model"]] * n, pa.string()),
        "weights_sha256": pa.array([config["weights_sha256"]] * n, pa.string()),
        "depths": pa.array([config["depths"]] * n, pa.list_(pa.int32())),
    }
    embeddings = [np.asarray(r["embedding"], np.float32) for r in rows]
    if mode == "timestamps":  # each (T, D): frames, each a list of D values
        columns["embedding"] = _frame_lists(embeddings)
    else:  # scene and both: each (D,)
        columns["embedding"] = _lists(embeddings)
    if mode == "both":
        columns["frames"] = _frame_lists([np.asarray(r["frames"], np.float32) for r in rows])
    if mode != "scene":
        columns["timestamps"] = _lists([np.asarray(r["timestamps"], np.float32) for r in rows])
    return pa.table(columns)


def _frame_lists(arrays: list):
    """(T, D) arrays -> list<list<float32>>, T lists of D values per row."""
    return _lists([a.reshape(-1) for a in arrays], sizes=[a.shape[1] for a in arrays])


def _lists(arrays: list, sizes=None):
    """1-D float32 arrays -> list<float32>; with `sizes`, each array cut into lists of its size
    -> list<list<float32>> (no Python loop over values)."""
    import pyarrow as pa

    values = pa.array(np.concatenate(arrays) if arrays else np.empty(0, np.float32), pa.float32())
    if sizes is None:
        offsets = np.concatenate([[0], np.cumsum([len(a) for a in arrays])]).astype(np.int32)
        return pa.ListArray.from_arrays(pa.array(offsets), values)
    counts = [len(a) // s for a, s in zip(arrays, sizes)]  # frames per row
    inner = np.concatenate([[0], np.cumsum(np.repeat(sizes, counts))]).astype(np.int32)
    outer = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    frames = pa.ListArray.from_arrays(pa.array(inner), values)
    return pa.ListArray.from_arrays(pa.array(outer), frames)
