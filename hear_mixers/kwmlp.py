"""HEAR module: KW-MLP (12 blocks), embeddings from the last block, as HEAR 2021 `kwmlp`."""

from hear_mixers.api import get_scene_embeddings, get_timestamp_embeddings, load_model

__all__ = ["load_model", "get_timestamp_embeddings", "get_scene_embeddings"]
