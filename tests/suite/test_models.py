import math

import pytest

from suite.errors import UserInputError
from suite.models import MODELS, flops_per_token, model_spec
from suite.torch_tools import build_model


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


@pytest.mark.parametrize("name", ["tiny", "llama-tiny"])
def test_cpu_models_train_one_step_with_checkpointing(name):
    import torch

    spec = MODELS[name]
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


PUBLISHED = {"llama2-7b": 6_738_415_616, "llama2-13b": 13_015_864_320,
             "llama2-70b": 68_976_648_192, "llama3.1-8b": 8_030_261_248,
             "llama3.1-70b": 70_553_706_496, "llama3.1-405b": 405_853_388_800}


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_llama_counts_are_the_published_ones(name):
    assert MODELS[name].n_params == PUBLISHED[name]


def test_gpt3_175b_is_the_papers_shape():
    # 96 layers x 12288 wide, tied embeddings: 174.6B, as Megatron-LM's and others' counts of
    # the paper's "175B" (the paper rounds); 0.23% below 175e9.
    assert MODELS["175b"].n_params == 174_604_259_328
    assert abs(MODELS["175b"].n_params / 175e9 - 1) < 0.003


def test_llama_members_use_grouped_query_attention_and_untied_heads():
    for name in ("llama-tiny", "llama-small", "llama3.1-8b"):
        spec = MODELS[name]
        assert spec.kv_heads < spec.n_head and not spec.ties
        module = build_model(spec, device="meta")
        names = {n for n, _ in module.named_parameters()}
        assert {"layers.0.self_attn.q_proj.weight", "layers.0.mlp.gate_proj.weight",
                "lm_head.weight"} <= names


def test_rotary_attention_is_causal():
    # A later token must not change an earlier position's output.
    import torch

    torch.manual_seed(0)
    model = build_model(MODELS["llama-tiny"]).eval()
    x = torch.randint(0, 1024, (1, 12))
    y = x.clone()
    y[0, 8:] = (y[0, 8:] + 1) % 1024
    with torch.no_grad():
        assert torch.allclose(model(x)[0, :8], model(y)[0, :8], atol=1e-6)
        assert not torch.allclose(model(x)[0, 8:], model(y)[0, 8:])
