"""evaluation.fuse (two models' stored scene embeddings side by side, labels checked) and
evaluation.jitter (stored embeddings plus seeded noise of a given size)."""

import json
import pickle

import numpy as np
import pytest

from evaluation.fuse import fuse, load
from evaluation.jitter import jitter


def _task_dir(path, embeddings: dict, labels: dict):
    """A heareval-style embedding folder: per split a raw float32 file, its shape, the clip
    list and the labels."""
    path.mkdir(parents=True)
    (path / "task_metadata.json").write_text(json.dumps({"task_name": "t"}))
    for split, e in embeddings.items():
        e.astype(np.float32).tofile(path / f"{split}.embeddings.npy")
        (path / f"{split}.embedding-dimensions.json").write_text(json.dumps(list(e.shape)))
        (path / f"{split}.json").write_text(json.dumps({f"{i}.wav": [l] for i, l in enumerate(labels[split])}))
        (path / f"{split}.target-labels.pkl").write_bytes(pickle.dumps(labels[split]))
    (path / "test.predicted-scores.json").write_text("{}")  # heareval's result: not copied
    return path


def test_fused_splits_hold_both_models_in_order_and_scale_by_the_first_split(tmp_path):
    rng = np.random.default_rng(0)
    labels = {"test": ["a", "b"], "train": ["a", "b", "a"]}
    ea = {"test": rng.normal(0, 3, (2, 4)), "train": rng.normal(0, 3, (3, 4))}
    eb = {"test": rng.normal(0, 1, (2, 6)), "train": rng.normal(0, 1, (3, 6))}
    a = _task_dir(tmp_path / "a", ea, labels)
    b = _task_dir(tmp_path / "b", eb, labels)

    assert fuse(a, b, tmp_path / "raw") == (4, 6)
    raw = load(tmp_path / "raw", "train")  # (3, 10)
    np.testing.assert_array_equal(raw, np.concatenate([ea["train"], eb["train"]], 1).astype(np.float32))
    assert (tmp_path / "raw" / "task_metadata.json").is_file()
    assert not (tmp_path / "raw" / "test.predicted-scores.json").exists()

    fuse(a, b, tmp_path / "scaled", scale=True)
    scaled = load(tmp_path / "scaled", "train")
    sa, sb = (x["test"].astype(np.float32).std() for x in (ea, eb))  # "test" sorts first
    np.testing.assert_allclose(scaled[:, :4], ea["train"] / sa, rtol=1e-5)
    np.testing.assert_allclose(scaled[:, 4:], eb["train"] / sb, rtol=1e-5)


def test_different_labels_are_refused(tmp_path):
    e = {"test": np.zeros((2, 3))}
    a = _task_dir(tmp_path / "a", e, {"test": ["a", "b"]})
    b = _task_dir(tmp_path / "b", e, {"test": ["b", "a"]})
    with pytest.raises(ValueError, match="different clips or labels"):
        fuse(a, b, tmp_path / "out")


def test_jitter_adds_seeded_noise_of_the_asked_relative_size(tmp_path):
    rng = np.random.default_rng(1)
    e = {"train": rng.normal(2, 1, (400, 50)), "test": rng.normal(2, 1, (100, 50))}
    src = _task_dir(tmp_path / "src", e, {"train": ["a"] * 400, "test": ["b"] * 100})
    jitter(src, tmp_path / "j1", 0.01, seed=3)
    jitter(src, tmp_path / "j2", 0.01, seed=3)
    for split in ("train", "test"):
        clean, noisy = load(src, split), load(tmp_path / "j1", split)
        rel = np.sqrt(np.mean((noisy - clean) ** 2) / np.mean(clean.astype(np.float64) ** 2))
        assert 0.009 < rel < 0.011
        np.testing.assert_array_equal(noisy, load(tmp_path / "j2", split))  # same seed, same noise
    assert (tmp_path / "j1" / "train.target-labels.pkl").read_bytes() == (src / "train.target-labels.pkl").read_bytes()
