"""hear_mixers: small all-MLP audio encoders as HEAR 2021 embedding modules.

The package itself is a HEAR module: KW-MLP, embeddings from its last block (12).
Other variants are the modules `hear_mixers.kwmlp`, `hear_mixers.kwmlp_d4`,
`hear_mixers.kwmlp_d8` and `hear_mixers.kwmlp_d12`.
"""

from hear_mixers.api import Embedder, get_scene_embeddings, get_timestamp_embeddings, load_model

__version__ = "0.1.0"
__all__ = ["Embedder", "load_model", "get_timestamp_embeddings", "get_scene_embeddings"]
