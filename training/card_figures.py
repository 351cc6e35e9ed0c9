"""Recompute every figure of the model card from a checkpoint and the held-out data.

    python -m training.card_figures weights/kwmlp.pt --corpus /tmp/corpus_cpu \
        --noise /tmp/noise_bank --json weights/kwmlp.eval.json

Test clips are the corpus's held-out voices, each word centred in 1 s, no augmentation.
Noisy figures mix in held-out noise files (never used in training) at exactly 10 dB and
0 dB SNR, with a fixed seed. The linear probe fits a logistic regression on token-averaged
embeddings of a third, two thirds and all of the blocks (KW-MLP: 4, 8, 12) from training-voice clips and scores it on the test voices.
"""

import argparse
import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from hear_mixers.checkpoint import load_checkpoint
from training.augment import mix_at_snr, noise_segments, place
from training.data import WORDS, Clips

BATCH = 512


def waveforms(clips: Clips, rows: np.ndarray, noise: Clips = None, snr_db: float = None,
              seed: int = 0) -> torch.Tensor:
    """Test waveforms (len(rows), 1 s): words centred, optionally noise at a fixed SNR."""
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(place(clips, rows, rng, centre=True))
    if noise is not None:
        nz = torch.from_numpy(noise_segments(noise, len(rows), rng))
        x = mix_at_snr(x, nz, torch.full((len(rows),), float(snr_db))).clamp(-1, 1)
    return x


@torch.no_grad()
def predict(model, clips: Clips, noise: Clips = None, snr_db: float = None, seed: int = 0) -> np.ndarray:
    """Predicted class of every clip, in batches on the model's device."""
    device = next(model.parameters()).device
    preds = []
    for i in range(0, len(clips), BATCH):
        rows = np.arange(i, min(i + BATCH, len(clips)))
        x = waveforms(clips, rows, noise, snr_db, seed + i).to(device)
        preds.append(model(x).argmax(1).cpu().numpy())
    return np.concatenate(preds) if preds else np.zeros(0, np.int64)


def accuracy(model, clips: Clips, noise: Clips = None, snr_db: float = None) -> float:
    was_training = model.training
    model.eval()
    acc = float((predict(model, clips, noise, snr_db) == clips.labels).mean())
    model.train(was_training)
    return acc


@torch.no_grad()
def pooled_embeddings(model, clips: Clips, depths: list[int]) -> list[np.ndarray]:
    """Token-averaged embeddings (N, dim) per depth, from centred clean clips."""
    device = next(model.parameters()).device
    parts = [[] for _ in depths]
    for i in range(0, len(clips), BATCH):
        x = waveforms(clips, np.arange(i, min(i + BATCH, len(clips)))).to(device)
        x = x[:, : getattr(model, "geometry", model).window_samples]  # ASM windows are 15600 samples: 25 ms cut at the end
        for part, emb in zip(parts, model.forward_intermediates(x, depths)):
            part.append(emb.mean(1).cpu().numpy())
    return [np.concatenate(p) for p in parts]


def probe_depths(depth: int) -> list[int]:
    """A third, two thirds and all of the blocks: 4, 8, 12 for KW-MLP."""
    return [depth * k // 3 for k in (1, 2, 3)]


def linear_probe(model, train: Clips, test: Clips, depths: list[int], seed: int = 0) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    fit_x, test_x = pooled_embeddings(model, train, depths), pooled_embeddings(model, test, depths)
    scores = {}
    for d, a, b in zip(depths, fit_x, test_x):
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
        probe.fit(a, train.labels)
        scores[str(d)] = float(probe.score(b, test.labels))
    return scores


def evaluate(checkpoint: str, words: Clips, noise: Clips, probe_clips: int = 4000) -> dict:
    model, meta = load_checkpoint(checkpoint)
    test = words.subset(words.split == "test")
    test_noise = noise.subset(noise.split == "test")
    clean = predict(model, test)
    right = clean == test.labels
    confusions = Counter(
        (WORDS[t], WORDS[p]) for t, p in zip(test.labels[~right], clean[~right])
    ).most_common(10)
    rng = np.random.default_rng(0)
    train = words.subset(words.split == "train")
    train = train.subset(np.sort(rng.choice(len(train), min(probe_clips, len(train)), replace=False)))
    return {
        "checkpoint": Path(checkpoint).name,
        "sha256": hashlib.sha256(Path(checkpoint).read_bytes()).hexdigest(),
        "test_clips": len(test),
        "test_voices": sorted(set(test.voice)),
        "test_acc_clean": float(right.mean()),
        "test_acc_snr10": float((predict(model, test, test_noise, 10.0) == test.labels).mean()),
        "test_acc_snr0": float((predict(model, test, test_noise, 0.0) == test.labels).mean()),
        "per_engine_clean": {
            src: float(right[test.source == src].mean()) for src in sorted(set(test.source))
        },
        "per_word_clean": {WORDS[k]: float(right[test.labels == k].mean())
                           for k in sorted(set(test.labels))},
        "top_confusions": [{"word": t, "predicted": p, "count": c} for (t, p), c in confusions],
        "linear_probe_test_acc": linear_probe(model, train, test, probe_depths(model.cfg.depth)),
        "probe_train_clips": len(train),
    }


def markdown(r: dict) -> str:
    lines = [
        f"| held-out voices ({r['test_clips']} clips) | top-1 |", "|---|---|",
        f"| clean | {100 * r['test_acc_clean']:.2f} % |",
        f"| noise at 10 dB SNR | {100 * r['test_acc_snr10']:.2f} % |",
        f"| noise at 0 dB SNR | {100 * r['test_acc_snr0']:.2f} % |",
        "", "| engine (clean) | top-1 |", "|---|---|",
        *(f"| {k} | {100 * v:.2f} % |" for k, v in r["per_engine_clean"].items()),
        "",
        f"| linear probe, depth ({r['probe_train_clips']} training-voice clips) "
        "| top-1 on held-out voices |",
        "|---|---|",
        *(f"| {k} | {100 * v:.2f} % |" for k, v in r["linear_probe_test_acc"].items()),
        "", "Most frequent confusions (word -> predicted: count): "
        + ", ".join(f"{c['word']} -> {c['predicted']}: {c['count']}" for c in r["top_confusions"]),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="Recompute the model card's figures.")
    parser.add_argument("checkpoint")
    parser.add_argument("--corpus", required=True, help="Clips folder (training.corpus)")
    parser.add_argument("--noise", required=True, help="Clips folder (training.noise)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    result = evaluate(args.checkpoint, Clips.load(args.corpus), Clips.load(args.noise))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(markdown(result))


if __name__ == "__main__":
    main()
