import math

import pytest

from suite.errors import UserInputError
from suite.models import MODELS, build_model, flops_per_token, model_spec


@pytest.mark.parametrize("name", list(MODELS))
def test_n_params_is_exact_for_every_size(name):
    spec = MODELS[name]
    module = build_model(spec, device="meta")  # meta: no memory even for 13b
    assert sum(p.numel() for p in module.parameters()) == spec.n_params


def test_gpt3_sizes_match_their_names():
    for name, expected in [("125m", 125e6), ("350m", 350e6), ("760m", 760e6), ("1.3b", 1.3e9),
                           ("2.7b", 2.7e9), ("6.7b", 6.7e9), ("13b", 13e9)]:
        assert abs(MODELS[name].n_params / expected - 1) < 0.03, name


def test_cpu_sizes_are_small():
    cpu = [m for m in MODELS.values() if m.scale == "cpu"]
    assert len(cpu) >= 2
    assert all(2e5 <= m.n_params <= 2e7 for m in cpu)


def test_tiny_model_trains_one_step():
    import torch

    spec = MODELS["tiny"]
    model = build_model(spec, checkpoint_every=1)
    x = torch.randint(0, spec.vocab_size, (2, 16))
    loss = model(x, x)
    loss.backward()
    assert 0.5 * math.log(spec.vocab_size) < loss.item() < 2 * math.log(spec.vocab_size)
    assert all(p.grad is not None for p in model.parameters())


def test_unknown_model_names_the_choices():
    with pytest.raises(UserInputError, match="tiny"):
        model_spec("huge")


def test_flops_per_token_dominated_by_6n():
    spec = MODELS["1.3b"]
    assert flops_per_token(spec, 2048) == pytest.approx(6 * spec.n_params, rel=0.2)
