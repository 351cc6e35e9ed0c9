"""Train KW-MLP or an ASM-family encoder (`--arch asm|asm_h|asm_r|asm_rh`, small config)
on a keyword corpus: the synthetic one (`training.corpus`) or a real Speech Commands v0.02
folder. The KW-MLP paper's recipe, adapted: AdamW, linear warm-up
then cosine decay, label smoothing, stochastic depth, SpecAugment, plus waveform
augmentation with real recorded noise (`training.augment`).

    python -m training.train --corpus /tmp/corpus_cpu --noise /tmp/noise_bank \
        --recipe cpu --out weights/kwmlp.pt
    python -m training.train --arch asm_rh --corpus ... --noise ... --recipe cpu --out weights/asmrh.pt

Writes the checkpoint (config, class list and provenance inside), `<out>.history.json`
and a training-curve PNG `<out>.curve.png` next to it.
"""

import argparse
import dataclasses
import json
import math
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from hear_mixers.checkpoint import save_checkpoint
from hear_mixers.frontends.fbank import KaldiFbank
from hear_mixers.models.asm import ACTIVATIONS, ASM, MIXERS, make_config
from hear_mixers.models.kwmlp import KWMLP, KWMLPConfig
from training.augment import AugmentConfig, augment, noise_segments, place, spec_augment
from training.data import WORDS, Clips
from training.card_figures import accuracy


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 140
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.1
    warmup_epochs: float = 10.0
    label_smoothing: float = 0.1
    seed: int = 0


RECIPES = {
    "paper": TrainConfig(),  # KW-MLP paper appendix: 140 epochs on Speech Commands
    "cpu": TrainConfig(epochs=12, warmup_epochs=1.0),  # ~45 min on 2 CPU cores (corpus --size cpu)
    # the ASM ablation's budget on 2 CPU cores (training/recipe_asm.sh): 3 epochs
    "ablation": TrainConfig(epochs=3, warmup_epochs=0.5),
}


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up to 1, then cosine decay to 0."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def load_data(args) -> tuple[Clips, Clips]:
    """(words, noise) from the options; noise from every --noise folder and the real set."""
    noises = [Clips.load(folder) for folder in args.noise]
    if args.speech_commands:
        from training.speech_commands import load_speech_commands

        words, sc_noise = load_speech_commands(args.speech_commands)
        noises.append(sc_noise)
    else:
        words = Clips.load(args.corpus)
    if not noises:
        raise SystemExit("no noise: pass --noise FOLDER (python -m training.noise builds one)")
    return words, Clips.concat(noises)


ARCHS = ("kwmlp", *MIXERS)
STATS_CLIPS = 2000  # training clips whose fbank sets an ASM's normalisation constants


def build_model(arch: str, train_set: Clips, seed: int, **asm_options) -> torch.nn.Module:
    """A fresh model; an ASM gets fbank mean and std from clean training clips."""
    torch.manual_seed(seed)
    if arch == "kwmlp":
        return KWMLP(KWMLPConfig(num_classes=len(WORDS)))
    cfg = make_config("small", mixer=arch, num_classes=len(WORDS), **asm_options)
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(train_set), min(STATS_CLIPS, len(train_set)), replace=False)
    with torch.no_grad():
        fbank = KaldiFbank(cfg.frontend)(torch.from_numpy(place(train_set, rows, rng)))
    stats = dict(norm_mean=round(fbank.mean().item(), 4), norm_std=round(fbank.std().item(), 4))
    return ASM(dataclasses.replace(cfg, **stats))


def augment_for(arch: str) -> AugmentConfig:
    """KW-MLP's recipe; an ASM's 128 mel bins get frequency masks scaled from 7 of 40."""
    return AugmentConfig() if arch == "kwmlp" else AugmentConfig(freq_mask_width=22)


def train(model: torch.nn.Module, words: Clips, noise: Clips, cfg: TrainConfig,
          aug: AugmentConfig, device: str, out: Path) -> tuple[torch.nn.Module, list[dict]]:
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator(device).manual_seed(cfg.seed)
    train_set, valid_set = words.subset(words.split == "train"), words.subset(words.split == "valid")
    noise_train = noise.subset(noise.split == "train")
    model = model.to(device)

    decay = [p for p in model.parameters() if p.ndim >= 2]  # no decay on biases and norms
    rest = [p for p in model.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": rest, "weight_decay": 0.0}], lr=cfg.lr)
    steps_per_epoch = math.ceil(len(train_set) / cfg.batch_size)  # the last batch may be short
    total, warmup = cfg.epochs * steps_per_epoch, int(cfg.warmup_epochs * steps_per_epoch)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, total, warmup))

    history, start, total_seen = [], time.time(), 0
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = rng.permutation(len(train_set))
        losses, correct, seen = [], 0, 0
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch}/{cfg.epochs}", file=sys.stdout)
        for step in bar:
            idx = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
            speech = torch.from_numpy(place(train_set, idx, rng, speed=aug.speed)).to(device)
            noisy = torch.from_numpy(noise_segments(noise_train, len(idx), rng)).to(device)
            labels = torch.from_numpy(train_set.labels[idx]).to(device)
            with torch.no_grad():
                feats = spec_augment(model.frontend(augment(speech, noisy, aug, gen)), aug, gen)
            logits = model.classify(feats)
            loss = F.cross_entropy(logits, labels, label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
            correct += (logits.argmax(1) == labels).sum().item()
            seen += len(idx)
            total_seen += len(idx)
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}", acc=f"{correct / seen:.3f}")
        model.eval()
        row = {
            "epoch": epoch, "train_loss": float(np.mean(losses)), "train_acc": correct / seen,
            "valid_acc": accuracy(model, valid_set), "lr": sched.get_last_lr()[0],
            "minutes": (time.time() - start) / 60,
            "samples_per_s": total_seen / (time.time() - start),  # validation time included
        }
        history.append(row)
        print(json.dumps(row))
        out.with_suffix(".history.json").write_text(json.dumps(history, indent=1))
    return model, history


def subset_train(words: Clips, count: int, seed: int) -> Clips:
    """Keep `count` random training clips (seeded) and every valid and test clip."""
    train_rows = np.flatnonzero(words.split == "train")
    rng = np.random.default_rng(seed)
    drop = rng.permutation(train_rows)[count:]
    keep = np.ones(len(words), bool)
    keep[drop] = False
    return words.subset(keep)


def plot(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax1.plot(epochs, [h["train_loss"] for h in history], marker="o")
    ax1.set(xlabel="epoch", ylabel="training loss (label smoothing 0.1)", title="loss")
    ax2.plot(epochs, [h["train_acc"] for h in history], marker="o", label="train (augmented)")
    ax2.plot(epochs, [h["valid_acc"] for h in history], marker="o", label="valid (held-out voices)")
    ax2.set(xlabel="epoch", ylabel="top-1 accuracy", title="accuracy", ylim=(0, 1))
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description="Train KW-MLP or an ASM on a keyword corpus.")
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument("--corpus", help="Clips folder written by python -m training.corpus")
    data.add_argument("--speech-commands", help="a real Speech Commands v0.02 folder")
    parser.add_argument("--noise", action="append", default=[], help="Clips folder of noise")
    parser.add_argument("--out", required=True, type=Path, help="checkpoint to write")
    parser.add_argument("--arch", choices=ARCHS, default="kwmlp")
    parser.add_argument("--stem", choices=("patch", "gmme"), default="patch", help="ASM only")
    parser.add_argument("--activation", choices=sorted(ACTIVATIONS), default="gelu", help="ASM only")
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="cpu")
    parser.add_argument("--max-train-clips", type=int,
                        help="train on a seeded random subset of this many training clips")
    parser.add_argument("--epochs", type=int, help="override the recipe's epochs")
    parser.add_argument("--seed", type=int, help="override the recipe's seed")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    cfg = RECIPES[args.recipe]
    overrides = {"epochs": args.epochs, "seed": args.seed}
    cfg = dataclasses.replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
    aug = augment_for(args.arch)
    words, noise = load_data(args)
    if args.max_train_clips:
        words = subset_train(words, args.max_train_clips, cfg.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    asm_options = {} if args.arch == "kwmlp" else {"stem": args.stem, "activation": args.activation}
    model = build_model(args.arch, words.subset(words.split == "train"), cfg.seed, **asm_options)
    model, history = train(model, words, noise, cfg, aug, args.device, args.out)
    test_set = words.subset(words.split == "test")
    test_acc = accuracy(model, test_set)
    plot(history, args.out.with_suffix(".curve.png"))
    save_checkpoint(
        model.cpu(), args.out, trained=True, classes=list(WORDS),
        recipe={"command": " ".join(sys.argv), "recipe": args.recipe, "arch": args.arch,
                "max_train_clips": args.max_train_clips,
                "train": dataclasses.asdict(cfg), "augment": dataclasses.asdict(aug)},
        data={"corpus": str(args.corpus or args.speech_commands),
              "clips": {s: int((words.split == s).sum()) for s in ("train", "valid", "test")},
              "noise_clips": int((noise.split == "train").sum())},
        measured={"valid_acc": history[-1]["valid_acc"], "test_acc_clean": test_acc,
                  "train_minutes": history[-1]["minutes"],
                  "samples_per_s": history[-1]["samples_per_s"], "device": args.device,
                  "machine": platform.processor() or platform.machine(),
                  "torch": str(torch.__version__)},
    )
    print(f"test accuracy (held-out voices, clean): {test_acc:.4f}; wrote {args.out}")


if __name__ == "__main__":
    main()
