"""The shipped default weights: they load strictly with no path, the model card's figures are
the evaluation script's output for this very file, and they recognise words spoken by voices
held out of training."""

import hashlib
import importlib
import json
import shutil
import warnings

import pytest
import torch

from hear_mixers.kwmlp import load_model
from hear_mixers.shipped import weights_dir
from training.data import WORDS

WEIGHTS = weights_dir() / "kwmlp.pt"


def test_default_weights_ship_and_load_strictly():
    assert WEIGHTS.is_file(), f"{WEIGHTS} is missing"
    assert WEIGHTS.stat().st_size < 3_000_000
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "untrained weights" warning
        model = load_model()
    assert model.depths == [12] and sum(p.numel() for p in model.parameters()) == 424_811
    meta = torch.load(WEIGHTS, weights_only=True)["meta"]
    assert meta["trained"] is True and meta["classes"] == WORDS
    assert meta["recipe"]["recipe"] == "cpu" and meta["measured"]["test_acc_clean"] > 0.5


def test_model_card_figures_are_the_evaluation_of_this_file():
    from training.card_figures import markdown

    result = json.loads((weights_dir() / "kwmlp.eval.json").read_text())
    assert result["sha256"] == hashlib.sha256(WEIGHTS.read_bytes()).hexdigest()
    assert markdown(result) in (weights_dir() / "README.md").read_text()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_recognises_words_from_held_out_voices():
    from hear_mixers.checkpoint import load_checkpoint
    from training.corpus import SIZES, generate
    from training.card_figures import accuracy

    clips, _, _ = generate(WORDS, SIZES["tiny"], seed=1, jobs=2, progress=False)
    held_out = clips.subset((clips.split == "test") & (clips.source == "espeak-ng"))
    assert len(held_out) == 35 and all(v.endswith("+f2") for v in held_out.voice)  # test variant
    classifier, _ = load_checkpoint(WEIGHTS)
    assert accuracy(classifier, held_out) >= 0.8  # chance is 1/35; measured 1.0 (seeds 0-2)


@pytest.mark.parametrize("module_name, file, mixer", [
    ("hear_mixers.asmrh", "asmrh.pt", "asm_rh"), ("hear_mixers.asm", "asm.pt", "asm")])
def test_shipped_asm_weights_load_strictly_and_the_card_shows_their_figures(module_name, file, mixer):
    import importlib

    from training.ablation import markdown, row

    path = weights_dir() / file
    assert path.is_file(), f"{path} is missing"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "untrained weights" warning
        model = importlib.import_module(module_name).load_model()
    assert model.encoder.cfg.mixer == mixer and model.encoder.cfg.norm_std != 0.5  # statistics set
    assert sum(p.numel() for p in model.encoder.parameters()) == 663_251
    measured = row(path)
    assert measured["test_acc_clean"] > 1 / 35  # above chance
    card_line = markdown([measured]).splitlines()[-1]  # this file's row of the ablation table
    assert card_line in (weights_dir() / "README.md").read_text()


def test_shipped_general_weights_load_strictly_and_the_card_shows_their_runs():
    from hear_mixers.variants import VARIANTS
    from training.card_general import load_meta, runs_markdown, valid_markdown

    path = weights_dir() / VARIANTS["general"].weights
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "untrained weights" warning
        model = importlib.import_module("hear_mixers.general").load_model()
    geo = model.encoder.geometry
    assert (model.encoder.cfg.mixer, geo.frame_hop, geo.sample_rate) == ("asm_rh", 800, 16000)  # 50 ms
    meta = load_meta(path)
    assert meta["trained"] is True and meta["recipe"]["trainer"] == "training.train_general"
    assert meta["runs"][-1]["last_step"] == meta["measured"]["steps"]  # the runs add up to the file
    card = (weights_dir() / "README.md").read_text()
    assert runs_markdown(meta) in card and valid_markdown(meta) in card
