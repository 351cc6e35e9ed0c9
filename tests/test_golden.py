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


@pytest.mark.parametrize("module_name", modules())
def test_variant_reproduces_the_golden_embeddings(module_name):
    module = importlib.import_module(module_name)
    variant = variant_of(module_name)
    model = module.load_model()
    width = model.encoder.geometry.embed_dim
    for name, audio in golden_audio().items():
        audio = torch.from_numpy(audio)
        emb, _ = module.get_timestamp_embeddings(audio, model)
        scene = module.get_scene_embeddings(audio, model)
        ref_emb = GOLDEN[f"{variant.weights}/{name}/timestamp"]  # (B, T', L * width)
        ref_scene = GOLDEN[f"{variant.weights}/{name}/scene"]  # (B, SCENE_STEPS * L * width)
        blocks = ref_emb.shape[-1] // width
        # the variant's depths, sliced out of the all-depths reference (block 1 first)
        ref_emb = ref_emb.reshape(*ref_emb.shape[:2], blocks, width)[..., np.array(model.depths) - 1, :]
        ref_scene = ref_scene.reshape(len(audio), SCENE_STEPS, blocks, width)[:, :, np.array(model.depths) - 1]
        np.testing.assert_allclose(emb[:, ::FRAME_STRIDE].numpy(),
                                   ref_emb.reshape(*ref_emb.shape[:2], -1), atol=ATOL, rtol=0)
        np.testing.assert_allclose(scene.numpy(), ref_scene.reshape(len(audio), -1), atol=ATOL, rtol=0)
