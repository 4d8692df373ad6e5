"""The model transforms and the activation meter, in one process (torch, no DeepSpeed)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from jobs.activations import ActivationMeter
from suite import model_surgery as tm
from suite.models import model_spec
from suite.strategies.pruning import block_linear_params
from suite.torch_tools import build_model

TINY = model_spec("tiny")


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_model(TINY)


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def tokens():
    return torch.randint(0, TINY.vocab_size, (2, 16), generator=torch.Generator().manual_seed(1))


def test_structured_pruning_removes_half_the_heads_and_neurons(model):
    x = tokens()
    dense = n_params(model)
    tm.prune_structured(model, 0.5)
    block = model.blocks[0]
    assert block.n_head == TINY.n_head // 2 and block.fc.out_features == 2 * TINY.d_model
    full, kept = block_linear_params({"model": "tiny", "pruning": "structured-50"})
    assert dense - n_params(model) == TINY.n_layer * (full - kept)  # the memory term is exact
    assert model(x).shape == (2, 16, TINY.vocab_size)


def test_unstructured_pruning_keeps_dense_weights_and_adds_masks(model):
    dense = n_params(model)
    tm.prune_unstructured(model, 0.5)
    assert n_params(model) == dense  # weight_orig is as large as the weight was
    masks = [b for n, b in model.named_buffers() if n.endswith("weight_mask")]
    assert len(masks) == 4 * TINY.n_layer
    assert all(abs(float((m == 0).float().mean()) - 0.5) < 0.01 for m in masks)
    assert float((model.blocks[0].fc.weight == 0).float().mean()) == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("bits, bytes_per_weight, tolerance", [(8, 1, 0.02), (4, 0.5, 0.2)])
@pytest.mark.parametrize("kernel", [True, False], ids=["cpu-kernel", "dequantize"])
def test_quantized_linear_is_small_and_close(bits, bytes_per_weight, tolerance, kernel):
    torch.manual_seed(0)
    linear = nn.Linear(128, 256)
    q = tm.QuantLinear(linear, bits, torch.float32, kernel=kernel)
    assert q.weight.numel() * q.weight.element_size() == 128 * 256 * bytes_per_weight
    x = torch.randn(3, 5, 128)
    want = linear(x)
    err = (q(x) - want).norm() / want.norm()
    assert err < tolerance, err


def test_quantize_replaces_every_block_linear(model):
    tm.quantize(model, 8, torch.bfloat16)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert not linears and model.wte.weight.dtype == torch.bfloat16
    assert model(tokens()).shape == (2, 16, TINY.vocab_size)


def saved_bytes(model, every: int) -> int:
    model.checkpoint_every = every
    meter = ActivationMeter(model)
    meter.start()
    loss = model(tokens(), tokens())
    meter.stop()
    loss.backward()
    return meter.peak_bytes


def test_activation_meter_sees_checkpointing(model):
    full, ckpt = saved_bytes(model, 0), saved_bytes(model, 1)
    assert ckpt < 0.5 * full
    assert saved_bytes(model, 0) == full  # deterministic: torch's own accounting
