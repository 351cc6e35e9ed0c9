"""Write tests/golden/embeddings.npz: reference embeddings of every shipped weight file.

For each file in weights/ the timestamp and scene embeddings of every block (all depths
concatenated, block 1 first) on two fixed inputs: a batch of two 1 s clips (KW-MLP's training
window) and one 2.3 s clip (several windows, so the seams are covered). Timestamp embeddings
keep every FRAME_STRIDE-th frame, to keep the file small. tests/test_golden.py
checks every variant module against them. Regenerate only on purpose, when weights change:

    python tests/golden/make_golden.py                  # every weight file
    python tests/golden/make_golden.py general.pt       # only these; the rest stay as they are
"""

import sys
from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).with_name("embeddings.npz")
RATE = 16000
FRAME_STRIDE = 3  # timestamp frames kept: 0, 3, 6, ...


def golden_audio() -> dict[str, np.ndarray]:
    """Fixed test signals, (B, N) float32 at 16 kHz: a chirp, a harmonic tone with vibrato,
    clicks and seeded noise, so every frequency band and the time structure matter."""
    t = np.arange(int(2.3 * RATE)) / RATE
    chirp = 0.4 * np.sin(2 * np.pi * (100 * t + 1200 * t**2))
    tone = sum(0.15 / k * np.sin(2 * np.pi * k * 220 * t + 3 * np.sin(2 * np.pi * 5 * t))
               for k in range(1, 6))
    clicks = np.where(np.arange(t.size) % 4000 < 40, 0.5, 0.0)
    noise = 0.05 * np.random.default_rng(0).standard_normal(t.size)
    short = RATE
    return {
        "short": np.stack([(chirp + noise)[:short], (tone + clicks)[:short]]).astype(np.float32),
        "long": (chirp + tone + clicks + noise)[None].astype(np.float32),
    }


def main(names: list[str]) -> None:
    from hear_mixers import load_model
    from hear_mixers.api import get_scene_embeddings, get_timestamp_embeddings
    from hear_mixers.shipped import weights_dir

    paths = [weights_dir() / n for n in names] or sorted(weights_dir().glob("*.pt"))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise SystemExit(f"no such weight file: {', '.join(missing)}")
    # regenerating some files keeps the others' arrays bit for bit
    arrays = {k: v for k, v in np.load(OUT).items()
              if k.split("/")[0] not in names} if names and OUT.is_file() else {}
    for path in paths:
        model = load_model(str(path))
        model = load_model(str(path), depth=list(range(1, model.depths[-1] + 1)))
        for name, audio in golden_audio().items():
            audio = torch.from_numpy(audio)
            emb, _ = get_timestamp_embeddings(audio, model)  # (B, T, depth * D)
            arrays[f"{path.name}/{name}/timestamp"] = emb[:, ::FRAME_STRIDE].numpy()
            arrays[f"{path.name}/{name}/scene"] = get_scene_embeddings(audio, model).numpy()
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT}: {', '.join(sorted(arrays))}")


if __name__ == "__main__":
    main(sys.argv[1:])
