"""The one registry of hear_mixers variants.

A variant is a HEAR module, `hear_mixers.<name>`: the shared API of `hear_mixers.api` with
its own weight file (in `weights/`) and its own default options for `load_model`. Adding a
variant is one entry in VARIANTS and a weight file. The modules are not files: the package
installs an import hook (`install_modules`) that builds `hear_mixers.<name>` from its entry
on first import, so `hear-validator hear_mixers.kwmlp_d4` and heareval find them as usual.
The package itself (`import hear_mixers`) serves DEFAULT.

Everything that lists variants reads them from here: the command line's `--model` and
`hear-mixers info`, the tests, `.ci/run`'s validator loop (`hear-mixers variants`), the
benchmarks and the README's variants table (`hear-mixers variants --markdown`, compared with
the README by a test).
"""

import importlib.abc
import importlib.util
import sys
from dataclasses import dataclass, field
from types import ModuleType

PACKAGE = "hear_mixers"


@dataclass(frozen=True)
class Variant:
    name: str  # the HEAR module is hear_mixers.<name>
    weights: str  # weight file in weights/
    summary: str  # one line: what the embedding is (module docstring, README, info)
    options: dict = field(default_factory=dict)  # load_model defaults, e.g. {"depth": 4}

    @property
    def module(self) -> str:
        return f"{PACKAGE}.{self.name}"


VARIANTS = {v.name: v for v in [
    Variant("kwmlp", "kwmlp.pt",
            "KW-MLP (12 gMLP blocks over 40 MFCCs), embeddings from the last block, as the "
            "HEAR 2021 kwmlp entry"),
    Variant("kwmlp_d4", "kwmlp.pt", "KW-MLP, embeddings from block 4 of 12", {"depth": 4}),
    Variant("kwmlp_d8", "kwmlp.pt", "KW-MLP, embeddings from block 8 of 12", {"depth": 8}),
    Variant("kwmlp_d12", "kwmlp.pt", "KW-MLP, embeddings from block 12 of 12", {"depth": 12}),
    Variant("asmrh", "asmrh.pt",
            "ASM-RH (Roll-Time and Hermit-FFT mixing), small, from the last block; "
            "undertrained (3 epochs); bf16 on CPUs with native bf16",
            {"precision": "auto"}),
    Variant("asm", "asm.pt",
            "ASM (plain MLP-Mixer over fbank patches), small, from the last block; "
            "undertrained (3 epochs); bf16 on CPUs with native bf16",
            {"precision": "auto"}),
    Variant("general", "general.pt",
            "ASM-RH trained on speech, music and sound events, blocks 3 and 6 of 6 "
            "concatenated; bf16 on CPUs with native bf16",
            {"depth": [3, 6], "precision": "auto"}),
]}
DEFAULT = "general"  # what the package module `hear_mixers` itself serves: the best
# mean over the evaluation suite's tasks (README, "Headline scores")


def modules() -> list[str]:
    """Every HEAR module name: the package (DEFAULT) first, then each variant."""
    return [PACKAGE] + [v.module for v in VARIANTS.values()]


def variant_of(module: str) -> Variant:
    """The Variant a HEAR module name serves (`hear_mixers` serves DEFAULT)."""
    name = DEFAULT if module == PACKAGE else module.removeprefix(PACKAGE + ".")
    if name not in VARIANTS:
        raise KeyError(f"no hear_mixers variant {module!r}; known: {', '.join(modules())}")
    return VARIANTS[name]


def make_loader(variant: Variant, module: str, options_for_any_file: bool = True):
    """`load_model` of a HEAR module serving `variant`: the shared one with the variant's
    weight file (when no path is given) and options as defaults; the caller's options win.
    With `options_for_any_file=False` (the package module) a path given is loaded with the
    API's own defaults, as any checkpoint would be: the default variant's options (such as
    its blocks) describe its own weights, not a KW-MLP or an ASM file of the caller's."""
    from hear_mixers import api
    from hear_mixers.shipped import shipped_weights

    def load_model(model_file_path: str = "", **options) -> api.Embedder:
        if model_file_path and not options_for_any_file:
            return api.load_model(model_file_path, **options)
        path = model_file_path or shipped_weights(variant.weights)
        return api.load_model(path, **{**variant.options, **options})

    load_model.__doc__ = f"{variant.summary}.\n\n{api.load_model.__doc__}"
    load_model.__module__ = module
    return load_model


def fill_module(module: ModuleType, variant: Variant) -> None:
    """Give `module` the HEAR API of `variant`."""
    from hear_mixers import api

    module.load_model = make_loader(variant, module.__name__)
    module.get_timestamp_embeddings = api.get_timestamp_embeddings
    module.get_scene_embeddings = api.get_scene_embeddings
    module.get_timestamp_and_scene_embeddings = api.get_timestamp_and_scene_embeddings
    module.VARIANT = variant
    module.__all__ = ["load_model", "get_timestamp_embeddings", "get_scene_embeddings",
                      "get_timestamp_and_scene_embeddings"]


class _VariantModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Import hook: `hear_mixers.<name>` for every name in VARIANTS."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith(PACKAGE + ".") and fullname[len(PACKAGE) + 1:] in VARIANTS:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return None  # a plain module

    def exec_module(self, module):
        variant = variant_of(module.__name__)
        module.__doc__ = f"HEAR module: {variant.summary} (weights/{variant.weights})."
        fill_module(module, variant)


def install_modules() -> None:
    """Put the import hook on sys.meta_path once (called by the package on import)."""
    if not any(isinstance(f, _VariantModules) for f in sys.meta_path):
        sys.meta_path.insert(0, _VariantModules())  # before the file finders: a stale
        # hear_mixers/<variant>.py left by an older installation never shadows the registry


def markdown_table() -> str:
    """The README's variants table, from the registry and the loaded models' geometry."""
    rows = ["| module | what the embedding is | hop | timestamp size | scene size | weight file |",
            "|---|---|---|---|---|---|"]
    for module in modules():
        variant = variant_of(module)
        model = importlib.import_module(variant.module).load_model()
        hop_ms = 1000 * model.encoder.geometry.frame_hop / model.sample_rate
        summary = f"same as `{variant.module}`" if module == PACKAGE else variant.summary
        rows.append(f"| `{module}` | {summary} | {hop_ms:g} ms | {model.timestamp_embedding_size} "
                    f"| {model.scene_embedding_size} | `weights/{variant.weights}` |")
    return "\n".join(rows)
