"""Training speed on this machine, measured A/B in one process: the keyword trainer's step
(`training.train`: waveform augmentation, fbank every step, fp32) against the general
trainer's (`training.train_general`: cached fbank, log-mel augmentation, bf16), alternating
in rounds so that the load of a shared machine hits every path alike; and the encoder
candidates of the general trainer (parameters, MFLOP per window, samples per second).

    python -m training.speed_ab --rounds 3 --steps 4
    python -m training.speed_ab --candidates --rounds 2

Data: synthetic clips (tones and noise of 0.3-3 s) written to a temporary folder; the
figures measure the code, not the data. Samples per second count optimiser steps times the
batch, data preparation included, per wall second and per CPU second of the process (one
thread by default: on a shared machine CPU time is the steadier measure). Each round prints
the 1-minute load average.
"""

import argparse
import dataclasses
import io
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from hear_mixers.models.asm import ASM, make_config
from training.augment import AugmentConfig, augment, noise_segments, place, spec_augment
from training.data import WORDS, Clips
from training.objectives import ObjectiveConfig
from training.train_general import ENCODER, RECIPES, LabelledClips, Trainer

SMALL = dict(tstride=8, token_hidden=176)  # ENCODER -> today's small ASM-RH
CANDIDATES = {  # the general encoder's candidates: overrides of the "small" config
    "small (80 ms)": {**ENCODER, **SMALL},
    "t5 d96 x6 (50 ms)": ENCODER,
    "t4 d96 x6 (40 ms)": {**ENCODER, "tstride": 4},
    "t5 d128 x6 (50 ms)": {**ENCODER, "dim": 128, "channel_hidden": 512},
    "t5 d96 x8 (50 ms)": {**ENCODER, "depth": 8},
}


def synthetic_general(folder: Path, n: int = 1024, seed: int = 0) -> Path:
    """Tones and decaying noise of 0.3-3 s with keyword-like labels (35 classes)."""
    rng = np.random.default_rng(seed)
    clips, labels = [], []
    for i in range(n):
        t = np.arange(int(rng.integers(5000, 48000))) / 16000
        k = i % len(WORDS)
        tone = np.sin(2 * np.pi * 150 * 2 ** (k / 12) * t)
        clips.append(0.3 * np.where(i % 2, tone, rng.standard_normal(len(t)) * np.exp(-3 * t)))
        labels.append(k)
    split = np.where(np.arange(n) % 10 == 9, "valid", "train")
    Clips.from_list(clips, labels=labels, split=split, source=["synth"] * n,
                    voice=[str(i) for i in range(n)]).save(folder)
    np.savez(folder / "heads.npz", keyword=np.array(labels))
    (folder / "heads.json").write_text(json.dumps({"keyword": WORDS}))
    return folder


class OldPath:
    """training.train's step for an ASM: place words, waveform augmentation, fbank, SpecAugment,
    classify, fp32 (the loop body of `training.train.train`, data included)."""

    def __init__(self, folder: Path, batch: int, overrides: dict):
        words = Clips.load(folder)
        self.words = words.subset(words.split == "train")
        rng = np.random.default_rng(1)
        self.noise = Clips.from_list([0.1 * rng.standard_normal(48000) for _ in range(32)],
                                     labels=[-1] * 32, split=["train"] * 32, source=["n"] * 32,
                                     voice=[str(i) for i in range(32)])
        torch.manual_seed(0)
        self.model = ASM(make_config("small", num_classes=len(WORDS), **overrides))
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-3)
        self.aug, self.batch = AugmentConfig(freq_mask_width=22), batch
        self.rng, self.gen = np.random.default_rng(0), torch.Generator().manual_seed(0)

    def step(self) -> None:
        idx = self.rng.choice(len(self.words), self.batch, replace=False)
        speech = torch.from_numpy(place(self.words, idx, self.rng, speed=self.aug.speed))
        noisy = torch.from_numpy(noise_segments(self.noise, len(idx), self.rng))
        labels = torch.from_numpy(self.words.labels[idx])
        self.model.train()
        with torch.no_grad():
            feats = spec_augment(self.model.frontend(augment(speech, noisy, self.aug, self.gen)), self.aug, self.gen)
        loss = F.cross_entropy(self.model.classify(feats), labels, label_smoothing=0.1)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()


class NewPath:
    def __init__(self, folder: Path, batch: int, overrides: dict, objectives: str, precision: str, cache,
                 prefetch: bool = False):
        recipe = dataclasses.replace(RECIPES["general"], batch_size=batch)
        self.trainer = Trainer(LabelledClips.load(folder), recipe, ObjectiveConfig(objectives=objectives),
                               cache_dir=cache, precision=precision, encoder_overrides=overrides,
                               prefetch=prefetch)
        self.model = self.trainer.model.encoder

    def step(self) -> None:
        self.trainer.train_step()


def timed(path, steps: int, batch: int) -> tuple[float, float]:
    """(samples per wall second, samples per CPU second of this process)."""
    path.step()  # warm-up (allocations, first-call costs)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        path.step()
    return steps * batch / (time.perf_counter() - wall), steps * batch / (time.process_time() - cpu)


def window_mflop(model) -> float:
    """Matmul and convolution MFLOP of one window through every block (FlopCounterMode)."""
    from torch.utils.flop_counter import FlopCounterMode

    geometry = getattr(model, "geometry", model)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model.forward_intermediates(torch.zeros(1, geometry.window_samples), [model.cfg.depth])
    return counter.get_total_flops() / 1e6


def inference(rounds: int, batch: int = 256) -> None:
    """Windows embedded per CPU second (all blocks, fp32), KW-MLP against the ASM-RHs,
    alternating in rounds."""
    from hear_mixers.models.kwmlp import KWMLP

    torch.manual_seed(0)
    models = {"KW-MLP": KWMLP().eval(),
              **{name: ASM(make_config("small", **CANDIDATES[name])).eval()
                 for name in ("small (80 ms)", "t5 d96 x6 (50 ms)")}}
    for name, m in models.items():
        geometry = getattr(m, "geometry", m)
        depth = geometry.num_blocks if hasattr(geometry, "num_blocks") else m.cfg.depth
        params = sum(q.numel() for q in m.parameters())
        per_window = window_mflop(m)
        print(f"{name}: {params:,} parameters, window {geometry.window_samples / 16000:.3f} s, "
              f"hop {geometry.frame_hop / 16:.0f} ms, depth {depth}"
              + (f", {per_window:.1f} MFLOP per window" if per_window else ""))
    for r in range(rounds):
        for name, m in models.items():
            geometry = getattr(m, "geometry", m)
            depth = geometry.num_blocks if hasattr(geometry, "num_blocks") else m.cfg.depth
            x = torch.randn(batch, geometry.window_samples) * 0.1
            with torch.no_grad():
                m.forward_intermediates(x, [depth])
                cpu = time.process_time()
                m.forward_intermediates(x, [depth])
                cpu = time.process_time() - cpu
            print(f"round {r + 1}: {name}: {batch / cpu:.0f} windows per CPU s "
                  f"(load average {os.getloadavg()[0]:.2f})", flush=True)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=4, help="timed steps per path and round")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--threads", type=int, default=1, help="1: CPU time is then a fair measure on a shared machine")
    p.add_argument("--candidates", action="store_true", help="time the encoder candidates instead")
    p.add_argument("--prefetch", action="store_true", help="also time the new path with its batch thread")
    p.add_argument("--inference", action="store_true", help="time embedding (no training) instead")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.inference:
        return inference(args.rounds)
    tmp = Path(tempfile.mkdtemp(prefix="speed_ab_"))
    folder = synthetic_general(tmp / "data")
    small = {**ENCODER, **SMALL}
    if args.candidates:
        paths = {name: NewPath(folder, args.batch, o, "all", "bf16", tmp / "cache") for name, o in CANDIDATES.items()}
    else:
        paths = {
            "old: train.py step, fp32": OldPath(folder, args.batch, dict(mixer="asm_rh")),
            "new features, fp32": NewPath(folder, args.batch, small, "supervised", "fp32", tmp / "cache"),
            "new features, bf16": NewPath(folder, args.batch, small, "supervised", "bf16", tmp / "cache"),
        }
        if args.prefetch:
            paths["new features, bf16, prefetch"] = NewPath(folder, args.batch, small, "supervised", "bf16",
                                                            tmp / "cache", prefetch=True)
    print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch}, {args.steps} steps per path and round")
    for name, path in paths.items():
        m = path.model
        geometry = getattr(m, "geometry", m)
        params = sum(q.numel() for q in m.parameters())
        state = ""
        if isinstance(path, NewPath):  # after one step, so the optimiser state exists
            path.step()
            buffer = io.BytesIO()
            torch.save(path.trainer.state(), buffer)
            state = f", resumable state {buffer.tell() / 1e6:.1f} MB"
        print(f"{name}: encoder {params:,} parameters, {window_mflop(m):.1f} MFLOP per window "
              f"({geometry.window_samples / 16000:.3f} s), hop {geometry.frame_hop / 16:.0f} ms{state}")
    rates = {name: [] for name in paths}
    for r in range(args.rounds):
        for name, path in paths.items():
            wall, cpu = timed(path, args.steps, args.batch)
            rates[name].append(cpu)
            print(f"round {r + 1}: {name}: {wall:.0f} samples per wall s, {cpu:.0f} per CPU s "
                  f"(load average {os.getloadavg()[0]:.2f})", flush=True)
    first = next(iter(paths))
    for name, values in rates.items():
        ratio = [v / b for v, b in zip(values, rates[first])]
        print(f"{name}: median {np.median(values):.0f} samples per CPU s; per round x {first!r}: "
              + ", ".join(f"{x:.2f}" for x in ratio))


if __name__ == "__main__":
    main()
