"""HEAR module: KW-MLP embeddings from block 12 of 12 (paper Table 4)."""

from hear_mixers.api import get_scene_embeddings, get_timestamp_embeddings, variant_loader

load_model = variant_loader(__doc__, depth=12)

__all__ = ["load_model", "get_timestamp_embeddings", "get_scene_embeddings"]
