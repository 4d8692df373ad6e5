"""suite/strategies/optimizer.py's 8-bit AdamW states against bitsandbytes' own, byte for byte."""

from __future__ import annotations

import pytest

from suite.models import model_spec
from suite.strategies.optimizer import adamw8bit_bytes

bnb = pytest.importorskip("bitsandbytes")
torch = pytest.importorskip("torch")


@pytest.mark.parametrize("sizes", [model_spec("tiny").parameter_sizes(), [280320], [100, 5000]])
def test_adamw8bit_states_as_bitsandbytes_allocates_them(sizes):
    """The parameters at ZeRO-0 (biases and norms under 4096 elements keep fp32 states), one
    flat ZeRO-1/2 partition, and a mix."""
    params = [torch.nn.Parameter(torch.zeros(n)) for n in sizes]
    for p in params:
        p.grad = torch.ones_like(p)
    optimizer = bnb.optim.AdamW8bit(params, lr=1e-4)
    optimizer.step()
    seen: dict[int, int] = {}
    for state in optimizer.state.values():
        for t in state.values():
            if isinstance(t, torch.Tensor):
                seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
    assert sum(seen.values()) == adamw8bit_bytes(sizes)
