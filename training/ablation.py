"""The ASM ablation table from the checkpoints of training/recipe_asm.sh: one row per
encoder (ASM, ASM-H, ASM-R, ASM-RH), the figures each run measured and stored in its
checkpoint (held-out-voice accuracy, validation accuracy, training time and speed) and its
parameter count.

    python -m training.ablation asm.pt asm_h.pt asm_r.pt asm_rh.pt --markdown weights/asm_ablation.md
"""

import argparse
from pathlib import Path

from hear_mixers.checkpoint import load_checkpoint
from hear_mixers.models.asm import MIXERS

NAMES = {"asm": "ASM", "asm_h": "ASM-H (Hermit-Frequency-mixing only)",
         "asm_r": "ASM-R (Roll-Time-mixing only)", "asm_rh": "ASM-RH (both)"}


def row(path: Path) -> dict:
    model, meta = load_checkpoint(path)
    if model.arch != "asm":
        raise ValueError(f"{path}: not an ASM-family checkpoint (arch {model.arch!r})")
    measured, recipe = meta["measured"], meta["recipe"]
    return {
        "mixer": model.cfg.mixer, "params": sum(p.numel() for p in model.parameters()),
        "test_acc_clean": measured["test_acc_clean"], "valid_acc": measured["valid_acc"],
        "train_minutes": measured["train_minutes"], "samples_per_s": measured["samples_per_s"],
        "epochs": recipe["train"]["epochs"], "seed": recipe["train"]["seed"],
        "train_clips": meta["data"]["clips"]["train"],
    }


def markdown(rows: list[dict]) -> str:
    first = rows[0]
    budget = {(r["epochs"], r["seed"], r["train_clips"]) for r in rows}
    if len(budget) != 1:
        raise ValueError(f"the runs differ in budget or seed: {sorted(budget)}")
    lines = [
        f"Same corpus, recipe and seed ({first['seed']}): {first['epochs']} epochs over "
        f"{first['train_clips']} training clips, one run each.", "",
        "| encoder | parameters | held-out voices, clean | validation | train min | samples/s |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {NAMES[r['mixer']]} | {r['params']:,} | {100 * r['test_acc_clean']:.2f} % | "
            f"{100 * r['valid_acc']:.2f} % | {r['train_minutes']:.1f} | {r['samples_per_s']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description="ASM ablation table from checkpoints.")
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    args = parser.parse_args()
    rows = [row(p) for p in args.checkpoints]
    missing = set(MIXERS) - {r["mixer"] for r in rows}
    if missing:
        print(f"note: no run for {sorted(missing)}")
    text = markdown(rows)
    if args.markdown:
        args.markdown.write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
