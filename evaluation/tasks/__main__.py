"""python -m evaluation.tasks OUT_DIR --task NAME|all [--size tiny|full] [--seed 0]
[--sample-rates 16000,44100]: build HEAR tasks and print their clip counts."""

import argparse
import json
import sys
import time
from pathlib import Path

from evaluation.tasks import SIZES, TASKS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split(":")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--task", required=True, choices=sorted(TASKS) + ["all"])
    parser.add_argument("--size", choices=SIZES, default="tiny")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample-rates", default="16000,44100",
                        help="comma-separated; the audio is written at each")
    args = parser.parse_args(argv)
    rates = [int(r) for r in args.sample_rates.split(",") if r.strip()]
    names = sorted(TASKS) if args.task == "all" else [args.task]
    failed = []
    for name in names:
        start = time.time()
        try:
            folder = TASKS[name](args.out_dir, args.size, args.seed, rates)
        except RuntimeError as err:  # a missing Debian package or speech engine
            print(f"{name}: not built: {err}", file=sys.stderr)
            failed.append(name)
            continue
        clips = json.loads((folder / "task_metadata.json").read_text())["clips"]
        print(f"{folder}: {sum(clips.values())} clips {clips}, {time.time() - start:.1f} s")
    if failed:
        sys.exit(f"not built: {', '.join(failed)}")


if __name__ == "__main__":
    main()
