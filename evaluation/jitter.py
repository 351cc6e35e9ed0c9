"""The probes' noise floor: a task's stored embeddings plus seeded Gaussian noise.

    python -m evaluation.jitter TASK_DIR OUT_TASK_DIR --relative-rms 0.004 [--seed 0]
    python -m hear_compat.predictions OUT_TASK_DIR --grid default

A change that moves embeddings a little (bf16, quantisation) is judged by the suite's
scores before and after; but heareval's probes, trained on a few hundred clips, can score
differently after any small change. Scoring copies of the same embeddings with noise of
the change's size (relative RMS: noise RMS over the embeddings' RMS, per split) shows how
far scores move by chance alone. Scene tasks only (split files of one vector per clip).
"""

import argparse
import shutil
from pathlib import Path

import numpy as np

from evaluation.fuse import COPIED, NOT_COPIED, load, splits


def jitter(task_dir: Path, out: Path, relative_rms: float, seed: int = 0) -> None:
    names = splits(task_dir)
    if not names:
        raise ValueError(f"{task_dir} holds no heareval split embeddings (*.embeddings.npy)")
    out.mkdir(parents=True, exist_ok=True)
    for f in task_dir.iterdir():
        if f.is_file() and f.name.endswith(COPIED) and f.name not in NOT_COPIED:
            shutil.copy(f, out / f.name)
    rng = np.random.default_rng(seed)
    for split in names:
        e = load(task_dir, split)  # (clips, D)
        rms = np.sqrt(np.mean(e.astype(np.float64) ** 2))
        noisy = e + rng.normal(0.0, relative_rms * rms, e.shape)
        noisy.astype(np.float32).tofile(out / f"{split}.embeddings.npy")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("task_dir", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--relative-rms", type=float, required=True)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    jitter(args.task_dir, args.out, args.relative_rms, args.seed)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
