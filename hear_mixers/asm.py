"""HEAR module: the plain Audio Spectrogram Mixer (MLP-Mixer blocks over 16 x 16 fbank
patches), small config, trained like ASM-RH (weights/asm.pt); embeddings from its last
block, one every 80 ms."""

from hear_mixers.api import get_scene_embeddings, get_timestamp_embeddings, variant_loader

load_model = variant_loader(__doc__, weights="asm.pt")

__all__ = ["load_model", "get_timestamp_embeddings", "get_scene_embeddings"]
