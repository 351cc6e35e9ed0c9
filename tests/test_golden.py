"""Every variant module reproduces the committed reference embeddings of its shipped weight
file (tests/golden/embeddings.npz, written by tests/golden/make_golden.py), so a change that
moves the shipped embeddings fails here.

Tolerance: absolute 2e-4 on embedding values of order 1..5. On the machine that wrote the
file the outputs repeat bit for bit; the margin is for CPUs whose BLAS sums in another order.
"""

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hear_mixers.pooling import SCENE_STEPS
from hear_mixers.shipped import weights_dir
from hear_mixers.variants import modules, variant_of

sys.path.insert(0, str(Path(__file__).parent / "golden"))
from make_golden import FRAME_STRIDE, OUT, golden_audio  # noqa: E402

ATOL = 2e-4
GOLDEN = np.load(OUT)


def test_every_shipped_weight_file_has_golden_embeddings():
    shipped = {p.name for p in weights_dir().glob("*.pt")}
    assert shipped == {key.split("/")[0] for key in GOLDEN.files}


def golden_of(variant, model, name: str, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """The reference (timestamp every FRAME_STRIDE-th frame, scene) of the model's depths,
    sliced out of the all-depths reference (block 1 first)."""
    width = model.encoder.geometry.embed_dim
    ref_emb = GOLDEN[f"{variant.weights}/{name}/timestamp"]  # (B, T', L * width)
    ref_scene = GOLDEN[f"{variant.weights}/{name}/scene"]  # (B, SCENE_STEPS * L * width)
    blocks = ref_emb.shape[-1] // width
    ref_emb = ref_emb.reshape(*ref_emb.shape[:2], blocks, width)[..., np.array(model.depths) - 1, :]
    ref_scene = ref_scene.reshape(batch, SCENE_STEPS, blocks, width)[:, :, np.array(model.depths) - 1]
    return ref_emb.reshape(*ref_emb.shape[:2], -1), ref_scene.reshape(batch, -1)


@pytest.mark.parametrize("module_name", modules())
def test_variant_reproduces_the_golden_embeddings(module_name):
    """In fp32, whatever precision the variant defaults to: bit for bit on this machine."""
    module = importlib.import_module(module_name)
    variant = variant_of(module_name)
    model = module.load_model(precision="fp32")
    for name, audio in golden_audio().items():
        audio = torch.from_numpy(audio)
        emb, _ = module.get_timestamp_embeddings(audio, model)
        scene = module.get_scene_embeddings(audio, model)
        ref_emb, ref_scene = golden_of(variant, model, name, len(audio))
        np.testing.assert_allclose(emb[:, ::FRAME_STRIDE].numpy(), ref_emb, atol=ATOL, rtol=0)
        np.testing.assert_allclose(scene.numpy(), ref_scene, atol=ATOL, rtol=0)


@pytest.mark.parametrize("module_name", modules())
def test_variant_defaults_stay_close_to_the_golden_embeddings(module_name):
    """With the variant's own options, precision included (the general variant's "auto" is
    bf16 on a CPU with native bf16): within 2 % relative RMS of the fp32 reference, every
    frame pointing the same way (cosine > 0.99)."""
    module = importlib.import_module(module_name)
    variant = variant_of(module_name)
    model = module.load_model()
    for name, audio in golden_audio().items():
        audio = torch.from_numpy(audio)
        emb, _ = module.get_timestamp_embeddings(audio, model)
        scene = module.get_scene_embeddings(audio, model)
        ref_emb, ref_scene = golden_of(variant, model, name, len(audio))
        for got, ref in ((emb[:, ::FRAME_STRIDE].numpy(), ref_emb), (scene.numpy(), ref_scene)):
            assert got.shape == ref.shape
            rel_rms = np.sqrt(np.mean((got - ref) ** 2) / np.mean(ref**2))
            cos = (got * ref).sum(-1) / np.linalg.norm(got, axis=-1) / np.linalg.norm(ref, axis=-1)
            assert rel_rms < 0.02 and cos.min() > 0.99, (name, rel_rms, cos.min())
