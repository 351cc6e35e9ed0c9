import pytest
import torch

from hear_mixers.models.kwmlp import KWMLP
from conftest import random_kwmlp


def count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_parameter_count_matches_published_kwmlp():
    model = KWMLP()
    assert count(model) == 424_811
    assert count(model.blocks[0]) == 34_982
    assert count(model) - count(model.head) == 422_536


def test_frontend_buffers_stay_out_of_the_state_dict():
    keys = KWMLP().state_dict().keys()
    assert not [k for k in keys if k.startswith("frontend")]
    assert len(keys) == 2 + 12 * 10 + 2 + 2


def test_sgu_starts_near_identity():
    sgu = KWMLP().blocks[0].sgu
    assert sgu.proj.weight.abs().max() <= 1e-3 / 98
    assert torch.equal(sgu.proj.bias, torch.ones(98))


def test_classifier_shapes_and_eval_is_deterministic():
    model = random_kwmlp()
    audio = torch.randn(3, 16000)
    logits = model(audio)
    assert logits.shape == (3, 35) and logits.dtype == torch.float32
    assert torch.equal(logits, model(audio))


def test_stochastic_depth_only_in_training():
    model = random_kwmlp(survival_prob=0.5)
    assert model._blocks_kept() == [True] * 12  # eval
    model.train()
    torch.manual_seed(1)
    draws = [model._blocks_kept() for _ in range(200)]
    kept = sum(map(sum, draws)) / (200 * 12)
    assert 0.4 < kept < 0.6
    assert len({tuple(d) for d in draws}) > 1


def test_stochastic_depth_keeps_at_least_one_block():
    model = random_kwmlp(survival_prob=0.0).train()
    for _ in range(20):
        assert sum(model._blocks_kept()) == 1


def test_windows_of_the_wrong_length_are_refused():
    with pytest.raises(ValueError, match="16000 samples"):
        random_kwmlp().forward_intermediates(torch.randn(1, 15999), [12])


def test_forward_intermediates_runs_no_block_after_the_deepest_requested():
    model = random_kwmlp()
    ran = []
    for i, block in enumerate(model.blocks, start=1):
        block.register_forward_hook(lambda m, inp, out, i=i: ran.append(i))
    model.forward_intermediates(torch.randn(2, 16000), [2, 5])
    assert ran == [1, 2, 3, 4, 5]
