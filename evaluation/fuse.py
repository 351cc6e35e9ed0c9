"""Concatenate two models' stored scene embeddings of a task, for a probe on the fusion.

    python -m evaluation.fuse A_TASK_DIR B_TASK_DIR OUT_TASK_DIR [--scale]
    python -m hear_compat.predictions OUT_TASK_DIR --grid default

A_TASK_DIR and B_TASK_DIR are heareval embedding folders of the same task (e.g.
`eval_output/full/embeddings/kwmlp-d12/hear_mixers.kwmlp_d12/keywords-v1-full`). OUT_TASK_DIR
gets the task's metadata and labels and, per split, the two embeddings side by side (A's
first). `--scale` divides each model's embeddings by one number, their standard deviation
on the first split in name order (`fold00`, or `test`), so neither
model dominates by scale alone. Scene tasks only: event tasks' timestamps differ per model.
"""

import argparse
import json
import pickle
import shutil
from pathlib import Path

import numpy as np

COPIED = (".json", ".csv", ".pkl")  # metadata, file lists, labels; not heareval's own results
NOT_COPIED = ("prediction-done.json", "test.predicted-scores.json", "test.predictions.pkl")


def load(task_dir: Path, split: str) -> np.ndarray:
    """heareval's split embeddings: a raw float32 memmap, its shape in a json beside it."""
    shape = tuple(json.loads((task_dir / f"{split}.embedding-dimensions.json").read_text()))
    return np.array(np.memmap(task_dir / f"{split}.embeddings.npy", np.float32, "r", shape=shape))


def splits(task_dir: Path) -> list[str]:
    return sorted(p.name.removesuffix(".embeddings.npy") for p in task_dir.glob("*.embeddings.npy"))


def fuse(a: Path, b: Path, out: Path, scale: bool = False) -> tuple[int, int]:
    names = splits(a)
    if not names or names != splits(b):
        raise ValueError(f"{a} and {b} must hold the same splits, got {names} and {splits(b)}")
    for split in names:  # same clips, same order, same labels
        same_files = json.loads((a / f"{split}.json").read_text()) == json.loads((b / f"{split}.json").read_text())
        labels = [pickle.loads((d / f"{split}.target-labels.pkl").read_bytes()) for d in (a, b)]
        if not same_files or repr(labels[0]) != repr(labels[1]):
            raise ValueError(f"split {split}: {a} and {b} list different clips or labels")
    out.mkdir(parents=True, exist_ok=True)
    for f in a.iterdir():
        if f.is_file() and f.name.endswith(COPIED) and f.name not in NOT_COPIED \
                and not f.name.endswith(".embedding-dimensions.json"):
            shutil.copy(f, out / f.name)
    sa, sb = (load(d, names[0]).std() if scale else 1.0 for d in (a, b))
    for split in names:
        both = np.concatenate([load(a, split) / sa, load(b, split) / sb], axis=1).astype(np.float32)
        both.tofile(out / f"{split}.embeddings.npy")  # (clips, D_a + D_b)
        (out / f"{split}.embedding-dimensions.json").write_text(json.dumps(list(both.shape)))
    return load(a, names[0]).shape[1], load(b, names[0]).shape[1]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--scale", action="store_true", help="equalise the two models' standard deviations")
    args = p.parse_args(argv)
    da, db = fuse(args.a, args.b, args.out, args.scale)
    print(f"wrote {args.out}: {da} + {db} dimensions per clip")


if __name__ == "__main__":
    main()
