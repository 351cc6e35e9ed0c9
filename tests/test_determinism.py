"""Determinism with the shipped weights: CPU results repeat bit for bit (same call, a freshly
loaded model, another module of the same depth; another process: test_cli.py); a clip's
embedding does not depend on the clips batched with it beyond BATCH_ATOL; CUDA agrees with CPU
within CUDA_ATOL.

Measured on the development machine (2-core x86 CPU, torch 2.13.0+cpu, 1 and 2 threads): the
batch-composition difference was exactly 0 for batch sizes 1..64, clip positions and
neighbours, and chunk_batch_size 5 vs 256. BATCH_ATOL leaves room for CPUs whose BLAS picks
other kernels for other batch sizes (embedding values are of order 1..5).
"""

import importlib

import pytest
import torch

from hear_mixers import get_scene_embeddings, get_timestamp_embeddings, load_model
from hear_mixers.variants import VARIANTS

SR = 16000
BATCH_ATOL = 1e-5  # max abs difference allowed between a clip alone and in a batch (CPU)
CUDA_ATOL = 5e-3  # GPU vs CPU: an estimate, NOT run here (no GPU)


@pytest.fixture(scope="module")
def shipped():
    return load_model()


def clips(batch: int, samples: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(batch, samples, generator=g)


def test_same_call_twice_and_a_fresh_model_are_bitwise_equal(shipped):
    audio = clips(2, 17_000)
    emb, ts = get_timestamp_embeddings(audio, shipped)
    again, ts_again = get_timestamp_embeddings(audio, shipped)
    fresh, _ = get_timestamp_embeddings(audio, load_model())
    assert torch.equal(emb, again) and torch.equal(ts, ts_again) and torch.equal(emb, fresh)
    scene = get_scene_embeddings(audio, shipped)
    assert torch.equal(scene, get_scene_embeddings(audio, load_model()))


def test_modules_of_the_same_depth_give_identical_embeddings():
    audio = clips(2, 20_000, seed=1)
    same = [v.module for v in VARIANTS.values() if v.weights == "kwmlp.pt" and
            v.options.get("depth", 12) == 12]  # hear_mixers.kwmlp, hear_mixers.kwmlp_d12
    assert len(same) == 2
    first, second = (m.get_scene_embeddings(audio, m.load_model())
                     for m in map(importlib.import_module, same))
    assert torch.equal(first, second)


def batch_composition_difference(model, device="cpu") -> float:
    """Max abs difference between each clip embedded alone and embedded in batches of other
    sizes, positions and neighbours (timestamp and scene embeddings)."""
    audio = clips(6, 17_000, seed=2).to(device)
    alone = [get_timestamp_embeddings(audio[i : i + 1], model)[0] for i in range(6)]
    alone_scene = [get_scene_embeddings(audio[i : i + 1], model) for i in range(6)]
    worst = 0.0
    for batch in ([0, 1], [4, 0, 5], [3, 2, 1, 0], [5, 4, 3, 2, 1, 0]):
        emb, _ = get_timestamp_embeddings(audio[batch], model)
        scene = get_scene_embeddings(audio[batch], model)
        for row, i in enumerate(batch):
            worst = max(worst, (emb[row] - alone[i][0]).abs().max().item())
            worst = max(worst, (scene[row] - alone_scene[i][0]).abs().max().item())
    return worst


@pytest.mark.parametrize("module", sorted({v.weights: v.module for v in VARIANTS.values()}.values()))
def test_batch_composition_does_not_change_a_clip_beyond_the_tolerance(module):
    """Every shipped weight file (one variant module each)."""
    worst = batch_composition_difference(importlib.import_module(module).load_model())
    assert worst <= BATCH_ATOL, f"measured {worst:.3g} > {BATCH_ATOL}"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_agrees_with_cpu_within_the_stated_tolerance(shipped):
    """Written without a GPU to run it on: the tolerances are estimates, not measurements."""
    cuda = load_model().cuda()
    audio = clips(3, 40_000, seed=3)
    emb_gpu, ts_gpu = get_timestamp_embeddings(audio, cuda)
    emb_cpu, ts_cpu = get_timestamp_embeddings(audio, shipped)
    torch.testing.assert_close(emb_gpu.cpu(), emb_cpu, atol=CUDA_ATOL, rtol=0)
    assert torch.equal(ts_gpu.cpu(), ts_cpu)
    scene_gpu = get_scene_embeddings(audio, cuda)
    torch.testing.assert_close(scene_gpu.cpu(), get_scene_embeddings(audio, shipped),
                               atol=CUDA_ATOL, rtol=0)
    assert batch_composition_difference(cuda, "cuda") <= CUDA_ATOL
