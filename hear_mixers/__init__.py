"""hear_mixers: small all-MLP audio encoders as HEAR 2021 embedding modules.

The package itself is a HEAR module serving the default variant; every variant is the
module `hear_mixers.<name>` of the registry `hear_mixers.variants` (`hear-mixers variants`
lists them).
"""

from hear_mixers.api import (Embedder, get_scene_embeddings, get_timestamp_and_scene_embeddings,
                             get_timestamp_embeddings)
from hear_mixers.variants import DEFAULT, VARIANTS, install_modules, make_loader

install_modules()  # the import hook that builds hear_mixers.<variant> from the registry
# the default variant when no path is given; a path given loads with the API's defaults
load_model = make_loader(VARIANTS[DEFAULT], __name__, options_for_any_file=False)

__version__ = "0.1.0"
__all__ = ["Embedder", "load_model", "get_timestamp_embeddings", "get_scene_embeddings",
           "get_timestamp_and_scene_embeddings"]
