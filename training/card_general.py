"""The figures of the general model's card (weights/README.md), read from the files.

    python -m training.card_general weights/general.pt [--data $DATA/general]

prints markdown: the training runs recorded in the checkpoint (`meta["runs"]`, written by
`training.train_general --export`), the validation top-1 of every head at the exported step
(`meta["measured"]`), and, with `--data`, the sources of the training data with their
licences (`licences.json` of `training.general_data`). tests/test_weights.py checks that the
card carries the first two as printed here for the shipped file.
"""

import argparse
import json
from pathlib import Path

import torch


def load_meta(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)["meta"]


def runs_markdown(meta: dict) -> str:
    """One row per training run, then the total. Wall time is the run's whole lifetime,
    including any time its process was paused; samples per second shows such pauses."""
    rows = ["| run | started (UTC) | steps | samples | wall time | samples/s | threads | stopped by |",
            "|---:|---|---|---:|---:|---:|---:|---|"]
    for i, r in enumerate(meta["runs"], start=1):
        threads = r["machine"].rsplit(",", 1)[-1].split()[0]
        rows.append(f"| {i} | {r['start'][:16].replace('T', ' ')} | {r['first_step']:,}-{r['last_step']:,} "
                    f"| {r['samples']:,} | {r['wall_s'] / 3600:.2f} h | {r['samples'] / r['wall_s']:.0f} "
                    f"| {threads} | {r['stopped']} |")
    m = meta["measured"]
    wall = sum(r["wall_s"] for r in meta["runs"])
    rows.append(f"| all | | {m['steps']:,} of {m['planned_steps']:,} | {m['samples']:,} "
                f"| {wall / 3600:.2f} h | | | |")
    return "\n".join(rows)


def valid_markdown(meta: dict) -> str:
    """Top-1 of every head on the data's validation clips (middle crops, clean)."""
    m = meta["measured"]
    heads = [k.removeprefix("valid_") for k in m if k.startswith("valid_")]
    if not heads:  # trained without supervised heads (--objectives ssl)
        return "(no supervised heads, so no validation top-1)"
    return "\n".join([
        "| " + " | ".join(heads) + " |",
        "|" + "---:|" * len(heads),
        "| " + " | ".join(f"{m['valid_' + h]:.3f}" for h in heads) + " |",
    ])


def sources_markdown(licences: dict) -> str:
    """Per source package: version, licences of the files used, clips and hours."""
    rows = ["| source | version | licences of the files used | clips (valid) | hours |",
            "|---|---|---|---:|---:|"]
    for name, s in sorted(licences.items()):
        used = ", ".join(sorted(s.get("files_licences", {}))) or ", ".join(s["licences"])
        rows.append(f"| {name} | {s.get('version', '')} | {used} | {s['clips']:,} "
                    f"({s.get('valid_clips', 0):,}) | {s['seconds'] / 3600:.2f} |")
    return "\n".join(rows)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--data", type=Path, help="the general data folder (its licences.json)")
    args = p.parse_args(argv)
    meta = load_meta(args.checkpoint)
    print(runs_markdown(meta), "", valid_markdown(meta), sep="\n")
    if args.data:
        print("", sources_markdown(json.loads((args.data / "licences.json").read_text())), sep="\n")


if __name__ == "__main__":
    main()
