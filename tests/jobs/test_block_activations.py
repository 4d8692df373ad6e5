"""One transformer block's saved activations, measured by autograd, against suite/peak_model.py:
GPT's block, structured pruning's narrower one, and the Llama block (RMSNorm, rotary,
grouped-query attention, SwiGLU)."""

from __future__ import annotations

import pytest
import torch

from jobs.ledger import count
from suite import llama
from suite.gpt import Block
from suite.model_surgery import prune_block
from suite.models import model_spec
from suite.peak_model import block_activation_bytes
from suite.strategies import pruning

DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no GPU here")])]


def saved_bytes(block: torch.nn.Module, x: torch.Tensor) -> int:
    params = {p.untyped_storage().data_ptr() for p in block.parameters()}
    saved = []

    def pack(t):
        if t.untyped_storage().data_ptr() not in params:
            saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        block(x)
    return count({"params": saved}).params_bytes


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype,width", [(torch.float32, 4), (torch.bfloat16, 2)])
def test_one_block_within_5_percent_at_two_sequence_lengths(device, dtype, width):
    spec = model_spec("125m")  # h = 768, 12 heads: GPT-2 small's block
    block = Block(spec.d_model, spec.n_head).to(device=device, dtype=dtype)
    for seq in (256, 1024):
        x = torch.randn(2, seq, spec.d_model, device=device, dtype=dtype, requires_grad=True)
        measured = saved_bytes(block, x)
        predicted = block_activation_bytes(spec, micro_batch=2, seq_len=seq, width=width)
        assert abs(measured / predicted - 1) < 0.05, (seq, measured, predicted)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype,width", [(torch.float32, 4), (torch.bfloat16, 2)])
def test_one_llama_block_within_5_percent_at_two_sequence_lengths(device, dtype, width):
    spec = model_spec("llama-base")  # h = 384, 6 heads over 2 kv heads, SwiGLU 1024 wide
    block = llama.Block(spec).to(device=device, dtype=dtype)
    for seq in (256, 1024):
        x = torch.randn(2, seq, spec.d_model, device=device, dtype=dtype, requires_grad=True)
        measured = saved_bytes(block, x)
        predicted = block_activation_bytes(spec, micro_batch=2, seq_len=seq, width=width)
        assert abs(measured / predicted - 1) < 0.05, (seq, measured, predicted)


@pytest.mark.parametrize("sparsity", [0.25, 0.5])
def test_one_pruned_block_at_two_sequence_lengths(sparsity):
    """Structured pruning's block (fewer heads, a narrower MLP) against the formula at the
    widths suite/strategies/pruning.py says it keeps: exact on the CPU in fp32."""
    spec = model_spec("125m")
    values = {"model": "125m", "pruning": f"structured-{int(sparsity * 100)}"}
    widths = pruning.block_widths(values, spec)
    block = prune_block(Block(spec.d_model, spec.n_head), sparsity)
    assert (block.n_head, block.fc.out_features) == (widths.heads, widths.ffn)
    for seq in (256, 1024):
        x = torch.randn(2, seq, spec.d_model, requires_grad=True)
        predicted = block_activation_bytes(spec, micro_batch=2, seq_len=seq, width=4,
                                           widths=widths)
        assert saved_bytes(block, x) == predicted
