"""Train the general-purpose ASM-RH: supervised heads plus a contrastive view objective
(`training.objectives`) on a multi-domain data folder, in runs that resume exactly.

    python -m training.train_general --data DIR --run training/runs/general \
        [--max-minutes 120] [--objectives all|supervised|ssl] [--export weights/general.pt]

DIR is a `training.data.Clips` folder plus `heads.npz` (head name -> (N,) int64 labels,
-1 where the head does not apply) and `heads.json` (head name -> class names). Only clips
of the "train" split train; "valid" clips give the per-head accuracies of the history.

A run folder holds `state.pt` (everything needed to continue: model, EMA target,
optimiser, step, random states, the runs so far; a few MB, meant to be committed),
`history.jsonl` and `run.json` (the configuration and the runs, readable). Starting the
command again on the same folder resumes from `state.pt`; the next steps are bitwise those
an uninterrupted run would have taken, because every batch (clips, crops, augmentation,
stochastic depth) is drawn from generators seeded by (seed, step). The state is written
every `--checkpoint-minutes`, on SIGTERM / SIGINT and at the end.

Speed: spectrograms are computed once per clip (`training.features`, cached outside the
repository) and augmented in the log-mel domain; the model runs under bf16 autocast.
"""

import argparse
import dataclasses
import json
import math
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hear_mixers.checkpoint import save_checkpoint
from hear_mixers.models.asm import ASM, make_config
from training.augment import (FeatureAugmentConfig, augment_features, crop_frames, mel_centres_hz,
                              spec_augment)
from training.data import Clips
from training.features import FeatureBank
from training.objectives import OBJECTIVES, GeneralModel, ObjectiveConfig
from training.resume import (StopFlag, git_commit, load_state, machine, random_states,
                             save_state, set_random_states, utc_now)
from training.train import lr_factor

# The encoder: overrides of the "small" ASM config (see the README of training/ for the
# measurements behind it). tstride 5 gives one embedding every 50 ms.
ENCODER = dict(mixer="asm_rh", tstride=5, dim=96, depth=6, token_hidden=128, channel_hidden=384)


@dataclass(frozen=True)
class Recipe:
    steps: int  # optimiser steps of the whole schedule (over every run)
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_steps: int = 500
    seed: int = 0
    balance: str = "domain"  # draw clips so that class k of this head has a share ~ count_k ** power
    balance_power: float = 0.5  # 1: as in the data (epochs of permutations); 0: every class alike


RECIPES = {
    # the shipped run, 3.1 M clips: about 6 h at 150 samples/s, in runs of at most 2 h
    "general": Recipe(steps=12_000),
    "ablation": Recipe(steps=1_000, warmup_steps=100),  # per objective family, same clips
    "tiny": Recipe(steps=40, batch_size=16, warmup_steps=4),  # smoke tests
}
STATS_CLIPS = 2000  # training clips whose fbank sets the normalisation constants
VALID_CLIPS = 2000  # validation clips scored at each evaluation
DEFAULT_CACHE = "/tmp/hear_mixers_cache"


@dataclass
class LabelledClips:
    clips: Clips
    heads: dict[str, np.ndarray]  # name -> (N,) int64, -1 = not applicable
    classes: dict[str, list[str]]  # name -> class names

    @classmethod
    def load(cls, folder) -> "LabelledClips":
        folder = Path(folder)
        for name in ("index.npz", "audio.npy", "heads.npz", "heads.json"):
            if not (folder / name).is_file():
                raise SystemExit(f"{folder}: no {name}; a general data folder holds a Clips "
                                 "folder plus heads.npz and heads.json")
        clips = Clips.load(folder)
        classes = json.loads((folder / "heads.json").read_text())
        with np.load(folder / "heads.npz", allow_pickle=False) as z:
            heads = {k: z[k].astype(np.int64) for k in z.files}
        if set(heads) != set(classes):
            raise ValueError(f"{folder}: heads.npz names {sorted(heads)} but heads.json {sorted(classes)}")
        for name, labels in heads.items():
            if labels.shape != (len(clips),):
                raise ValueError(f"{folder}: head {name!r} has shape {labels.shape}, expected ({len(clips)},)")
            if labels.max(initial=-1) >= len(classes[name]) or labels.min(initial=-1) < -1:
                raise ValueError(f"{folder}: head {name!r} labels outside -1..{len(classes[name]) - 1}")
        return cls(clips, heads, classes)


def encoder_config(num_classes: int, **overrides):
    return make_config("small", **{**ENCODER, "num_classes": num_classes, **overrides})


class Trainer:
    """One training run over a general data folder; `state()` / `load()` make it resumable."""

    def __init__(self, data: LabelledClips, recipe: Recipe, objectives: ObjectiveConfig,
                 augment: FeatureAugmentConfig = FeatureAugmentConfig(), cache_dir=DEFAULT_CACHE,
                 noise: Clips = None, primary: str = None, precision: str = "bf16",
                 encoder_overrides: dict = None, prefetch: bool = False):
        self.data, self.recipe, self.objectives, self.aug = data, recipe, objectives, augment
        self.precision = precision
        self.primary = primary or ("keyword" if "keyword" in data.heads else sorted(data.heads)[0])
        cfg = encoder_config(len(data.classes[self.primary]), **(encoder_overrides or {}))
        self.bank = FeatureBank.build(data.clips, cfg.frontend, cache_dir, progress=True)
        self.noise_bank = FeatureBank.build(noise, cfg.frontend, cache_dir) if noise is not None else None
        self.train_rows = np.flatnonzero(data.clips.split == "train")
        valid = np.flatnonzero(data.clips.split == "valid")  # a seeded sample of every source
        self.valid_rows = np.sort(np.random.default_rng(recipe.seed).choice(
            valid, min(VALID_CLIPS, len(valid)), replace=False))
        self.noise_rows = (np.flatnonzero(noise.split == "train") if noise is not None else self.train_rows)
        if len(self.train_rows) < recipe.batch_size:
            raise ValueError(f"{len(self.train_rows)} training clips, fewer than one batch of {recipe.batch_size}")
        self.frames = cfg.input_frames
        self.centres = mel_centres_hz(cfg.frontend)
        self.hop_s = cfg.frontend.frame_shift / cfg.frontend.sample_rate
        cfg = dataclasses.replace(cfg, **self._norm_stats())
        torch.manual_seed(recipe.seed)
        heads = {name: len(c) for name, c in data.classes.items()}
        self.model = GeneralModel(ASM(cfg), heads, self.primary, objectives)
        params = self.model.trained_parameters()
        decay = [p for p in params if p.ndim >= 2]  # no decay on biases and norms
        rest = [p for p in params if p.ndim < 2]
        self.opt = torch.optim.AdamW([{"params": decay, "weight_decay": recipe.weight_decay},
                                      {"params": rest, "weight_decay": 0.0}], lr=recipe.lr)
        self.step, self.runs, self._perm = 0, [], (None, None)
        self._cdf = self._balance_cdf(data.heads.get(recipe.balance), recipe.balance_power)
        self.prefetch, self._pool, self._next = prefetch, None, (None, None)

    def _norm_stats(self) -> dict:
        rng = np.random.default_rng(self.recipe.seed)
        rows = rng.choice(self.train_rows, min(STATS_CLIPS, len(self.train_rows)), replace=False)
        x = crop_frames(self.bank, np.sort(rows), self.frames, rng, centre=True)
        return dict(norm_mean=round(float(x.mean()), 4), norm_std=round(float(x.std()), 4))

    # ------------------------------------------------------------ batches

    def _balance_cdf(self, labels, power: float):
        """Cumulative drawing probabilities of the training rows, or None (plain epochs)."""
        if labels is None or power == 1.0:
            return None
        groups = labels[self.train_rows]  # -1 (head not applicable) is a group of its own
        _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
        weights = counts[inverse].astype(np.float64) ** (power - 1.0)  # class share ~ count ** power
        cdf = np.cumsum(weights)
        return cdf / cdf[-1]

    def _rows(self, step: int) -> np.ndarray:
        """The batch's training rows. Balanced: drawn with replacement by the balance
        weights, seeded by (seed, step). Otherwise sample s of the run is row
        perm_e[s % N] of epoch e = s // N, each epoch a permutation seeded by (seed, e)."""
        n, b = len(self.train_rows), self.recipe.batch_size
        if self._cdf is not None:
            u = np.random.default_rng([self.recipe.seed, 1, step]).random(b)
            return self.train_rows[np.minimum(np.searchsorted(self._cdf, u, side="right"), n - 1)]
        s = step * b + np.arange(b)
        out = np.empty(b, np.int64)
        for epoch in np.unique(s // n):
            if self._perm[0] != epoch:
                self._perm = (epoch, np.random.default_rng([self.recipe.seed, 1, int(epoch)]).permutation(n))
            here = s // n == epoch
            out[here] = self.train_rows[self._perm[1][s[here] % n]]
        return out

    def _view(self, rows: np.ndarray, rng: np.random.Generator, gen: torch.Generator) -> torch.Tensor:
        """(n,) rows -> (n, mel, frames) augmented, normalised model input."""
        crops = torch.from_numpy(crop_frames(self.bank, rows, self.frames, rng, self.aug.stretch))
        bank = self.noise_bank or self.bank
        others = rng.choice(self.noise_rows, len(rows))
        noise = torch.from_numpy(crop_frames(bank, others, self.frames, rng))
        x = augment_features(crops, noise, self.aug, gen, self.centres, self.hop_s)
        cfg = self.model.encoder.cfg
        x = ((x - cfg.norm_mean) / (2 * cfg.norm_std)).transpose(1, 2)  # (n, mel, frames)
        return spec_augment(x, self.aug, gen)

    def batch(self, step: int):
        """(view a, view b or None, labels) of `step`: a function of (seed, step) alone."""
        seed = self.recipe.seed
        rng = np.random.default_rng([seed, 2, step])
        gen = torch.Generator().manual_seed(int(np.random.default_rng([seed, 3, step]).integers(2**62)))
        rows = self._rows(step)
        view_a = self._view(rows, rng, gen)
        view_b = self._view(rows, rng, gen) if self.objectives.ssl else None
        labels = {name: torch.from_numpy(y[rows]) for name, y in self.data.heads.items()}
        return view_a, view_b, labels

    # ------------------------------------------------------------ steps

    def autocast(self):
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16")

    def next_batch(self):
        """The batch of `self.step`; with `prefetch`, the next one is then prepared in a
        thread while this one trains (a batch depends on its step alone, so the order of
        the work does not change it)."""
        if not self.prefetch:
            return self.batch(self.step)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="batch")
        step, future = self._next
        current = future.result() if step == self.step else self.batch(self.step)
        self._next = (self.step + 1, self._pool.submit(self.batch, self.step + 1))
        return current

    def train_step(self) -> dict:
        r = self.recipe
        view_a, view_b, labels = self.next_batch()
        torch.manual_seed(int(np.random.default_rng([r.seed, 4, self.step]).integers(2**62)))  # stochastic depth
        factor = lr_factor(self.step, r.steps, r.warmup_steps)
        for group in self.opt.param_groups:
            group["lr"] = r.lr * factor
        self.model.train()
        with self.autocast():
            losses = self.model.losses(view_a, view_b, labels)
        self.opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        self.opt.step()
        self.model.update_target()
        self.step += 1
        return {k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in losses.items()}

    @torch.no_grad()
    def validate(self) -> dict:
        """Per-head top-1 accuracy on validation clips (middle crops, no augmentation)."""
        if not len(self.valid_rows) or not self.objectives.supervised:
            return {}
        self.model.eval()
        cfg = self.model.encoder.cfg
        rng = np.random.default_rng(0)
        embs = []
        for i in range(0, len(self.valid_rows), 256):
            rows = self.valid_rows[i : i + 256]
            x = torch.from_numpy(crop_frames(self.bank, rows, self.frames, rng, centre=True))
            x = ((x - cfg.norm_mean) / (2 * cfg.norm_std)).transpose(1, 2)
            with self.autocast():
                embs.append(self.model.embed(self.model.encoder, x).float())
        emb = torch.cat(embs)
        out = {}
        for name, labels in self.data.heads.items():
            y = torch.from_numpy(labels[self.valid_rows])
            if (y >= 0).any():
                pred = self.model.head(name)(emb).argmax(1)
                out[f"valid_{name}"] = round(float((pred == y)[y >= 0].float().mean()), 4)
        return out

    # ------------------------------------------------------------ state

    def config(self) -> dict:
        return {"recipe": dataclasses.asdict(self.recipe), "objectives": dataclasses.asdict(self.objectives),
                "augment": dataclasses.asdict(self.aug), "precision": self.precision,
                "primary": self.primary, "encoder": dataclasses.asdict(self.model.encoder.cfg),
                "data_key": FeatureBank.key(self.data.clips, self.model.encoder.cfg.frontend)}

    def state(self) -> dict:
        return {"format": "hear_mixers-train-general", "version": 1, "step": self.step,
                "model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                "random": random_states(), "runs": self.runs, "config": self.config()}

    def load(self, state: dict) -> None:
        if state.get("format") != "hear_mixers-train-general":
            raise ValueError("not a train_general state file")
        saved, now = state["config"], self.config()
        diff = [k for k in saved if k != "encoder" and saved[k] != now.get(k)]
        # encoder fields that this hear_mixers no longer has (or has newly) are no difference:
        # the strict state-dict load below still refuses weights that do not fit
        diff += [f"encoder.{f}" for f, v in saved["encoder"].items() if now["encoder"].get(f, v) != v]
        if diff:
            raise ValueError(f"the saved run differs from this one in {sorted(diff)}; resume with "
                             "the same data and options, or start a new --run folder")
        self.model.load_state_dict(state["model"], strict=True)
        self.opt.load_state_dict(state["optimizer"])
        set_random_states(state["random"])
        self.step, self.runs = state["step"], list(state["runs"])


# ---------------------------------------------------------------- the command


def run(trainer: Trainer, run_dir: Path, max_minutes: float, checkpoint_minutes: float,
        eval_every: int, command: str) -> str:
    """Train until the schedule ends, `max_minutes` pass or a signal comes; checkpoint
    every `checkpoint_minutes` and at the end. Returns why it stopped."""
    run_dir.mkdir(parents=True, exist_ok=True)
    state_path, history = run_dir / "state.pt", run_dir / "history.jsonl"
    start, first = time.time(), trainer.step
    entry = {"start": utc_now(), "end": None, "first_step": first, "last_step": first, "samples": 0,
             "wall_s": 0.0, "machine": machine(), "commit": git_commit(), "command": command,
             "stopped": None}
    trainer.runs.append(entry)
    stop, last_save, reason = StopFlag(), time.time(), "schedule done"

    def checkpoint(why: str) -> None:
        entry.update(end=utc_now(), last_step=trainer.step, stopped=why, wall_s=round(time.time() - start, 1),
                     samples=(trainer.step - first) * trainer.recipe.batch_size)
        size = save_state(state_path, trainer.state())
        (run_dir / "run.json").write_text(json.dumps({"config": trainer.config(), "runs": trainer.runs}, indent=1) + "\n")
        print(f"step {trainer.step}: state saved ({size / 1e6:.1f} MB, {why})", flush=True)

    try:
        window, t0 = [], time.time()
        while trainer.step < trainer.recipe.steps:
            window.append(trainer.train_step())
            if trainer.step % eval_every == 0 or trainer.step == trainer.recipe.steps:
                row = {"step": trainer.step, "time": utc_now(),
                       "samples_per_s": round(len(window) * trainer.recipe.batch_size / (time.time() - t0), 1),
                       **{k: round(float(np.mean([w[k] for w in window])), 4) for k in window[0]},
                       **trainer.validate()}
                with open(history, "a") as f:
                    f.write(json.dumps(row) + "\n")
                print(json.dumps(row), flush=True)
                window, t0 = [], time.time()
            if stop:
                reason = stop.signal
                break
            if (time.time() - start) / 60 >= max_minutes:
                reason = "max minutes"
                break
            if (time.time() - last_save) / 60 >= checkpoint_minutes:
                checkpoint("periodic")
                last_save = time.time()
        checkpoint(reason)
    finally:
        stop.restore()
    return reason


def export(trainer: Trainer, path: Path) -> None:
    """The encoder (its head: the primary head) as a hear_mixers checkpoint; meta records
    every run that made it."""
    encoder = trainer.model.encoder
    wall = sum(r["wall_s"] for r in trainer.runs)
    save_checkpoint(
        encoder, path, trained=True, classes=list(trainer.data.classes[trainer.primary]),
        recipe={"trainer": "training.train_general", **trainer.config()},
        heads={k: list(v) for k, v in trainer.data.classes.items()},
        runs=[dict(r) for r in trainer.runs],
        measured={"steps": trainer.step, "planned_steps": trainer.recipe.steps,
                  "samples": trainer.step * trainer.recipe.batch_size, "train_wall_s": wall,
                  **trainer.validate()},
    )
    print(f"wrote {path} (step {trainer.step} of {trainer.recipe.steps})")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description="Train the general-purpose ASM-RH (resumable).")
    p.add_argument("--data", required=True, help="general data folder (Clips + heads.npz + heads.json)")
    p.add_argument("--run", type=Path, default=Path("training/runs/general"), help="run folder (state.pt...)")
    p.add_argument("--objectives", choices=sorted(OBJECTIVES), default="all")
    p.add_argument("--recipe", choices=sorted(RECIPES), default="general")
    p.add_argument("--steps", type=int, help="override the recipe's total steps")
    p.add_argument("--noise", help="a Clips folder of interferers (default: other training clips)")
    p.add_argument("--max-minutes", type=float, default=120.0,
                   help="stop (and save) after this long; 0: no training (e.g. only --export)")
    p.add_argument("--checkpoint-minutes", type=float, default=10.0)
    p.add_argument("--eval-every", type=int, default=200, help="steps between history rows")
    p.add_argument("--precision", choices=("bf16", "fp32"), default="bf16")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--no-prefetch", action="store_true", help="prepare each batch in the training thread")
    p.add_argument("--cache", default=DEFAULT_CACHE, help="fbank cache folder (outside git)")
    p.add_argument("--export", type=Path, help="write the encoder checkpoint here when the run stops")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    recipe = RECIPES[args.recipe]
    if args.steps:
        recipe = dataclasses.replace(recipe, steps=args.steps)
    noise = Clips.load(args.noise) if args.noise else None
    trainer = Trainer(LabelledClips.load(args.data), recipe, ObjectiveConfig(objectives=args.objectives),
                      noise=noise, precision=args.precision, prefetch=not args.no_prefetch)
    state_path = args.run / "state.pt"
    if state_path.is_file():
        trainer.load(load_state(state_path))
        print(f"resumed {state_path} at step {trainer.step} of {recipe.steps}")
    params = sum(p.numel() for p in trainer.model.encoder.parameters())
    print(f"encoder {params:,} parameters; {len(trainer.train_rows)} training clips; "
          f"objectives {args.objectives}; {args.threads} threads, {args.precision}", flush=True)
    if trainer.step < recipe.steps and args.max_minutes > 0:
        run(trainer, args.run, args.max_minutes, args.checkpoint_minutes, args.eval_every,
            " ".join(["python -m training.train_general", *sys.argv[1:]]))
    if args.export:
        export(trainer, args.export)


if __name__ == "__main__":
    main()
