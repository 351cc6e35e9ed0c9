"""HEAR module: ASM-RH (Roll-Time and Hermit-FFT mixing), small config, trained on the
synthetic keyword corpus (weights/asmrh.pt); embeddings from its last block, one every
80 ms (the patch grid's time columns, averaged over frequency patches)."""

from hear_mixers.api import get_scene_embeddings, get_timestamp_embeddings, variant_loader

load_model = variant_loader(__doc__, weights="asmrh.pt")

__all__ = ["load_model", "get_timestamp_embeddings", "get_scene_embeddings"]
