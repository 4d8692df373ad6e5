"""The ledger's byte counting and what it finds in a model and a plain torch optimizer."""

from __future__ import annotations

import pytest
import torch

from jobs.held import held_tensors
from jobs.ledger import Ledger, count


def test_a_tensor_counts_its_bytes():
    assert count({"params": [torch.zeros(10)]}).params_bytes == 40
    assert count({"grads": [torch.zeros(10, dtype=torch.bfloat16)]}).grads_bytes == 20


def test_views_of_a_flat_buffer_count_the_part_they_cover_once():
    flat = torch.zeros(100)
    views = [flat[0:30].view(5, 6), flat[30:60], flat[50:70]]  # the last two overlap by 10
    assert count({"params": views}).params_bytes == 70 * 4
    assert count({"params": [*views, flat]}).params_bytes == 100 * 4  # the buffer itself: all
    assert count({"params": [flat[10:20], flat[10:20], flat[10:20]]}).params_bytes == 40


def test_a_strided_view_counts_the_block_it_spans():
    block = torch.zeros(4, 8)
    assert count({"params": [block.t()]}).params_bytes == 32 * 4
    assert count({"params": [block[:, 0]]}).params_bytes == (3 * 8 + 1) * 4  # first to last


def test_a_storage_counts_for_the_first_category_that_holds_it():
    t = torch.zeros(8)
    ledger = count({"params": [t], "grads": [t], "optimizer_state": [t[:4]]})
    assert ledger == Ledger(params_bytes=32)
    assert count({"grads": [t], "optimizer_state": [t]}) == Ledger(grads_bytes=32)


def test_empty_and_missing_tensors_count_nothing():
    # ZeRO-3 frees a partitioned parameter's data to an empty tensor.
    ledger = count({"params": [torch.empty(0), torch.empty(5, device="meta")], "grads": []})
    assert ledger == Ledger()


def test_ledger_max_takes_each_category_from_the_larger():
    a = Ledger(params_bytes=4, grads_bytes=10)
    b = Ledger(params_bytes=5, grads_bytes=2, optimizer_state_bytes=7)
    assert a.max(b) == Ledger(params_bytes=5, grads_bytes=10, optimizer_state_bytes=7)


def _trained(optimizer_cls, **kwargs):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    optimizer = optimizer_cls(model.parameters(), **kwargs)
    model(torch.randn(3, 16)).sum().backward()
    optimizer.step()
    n = sum(p.numel() for p in model.parameters())
    return model, optimizer, n, len(list(model.parameters()))


def test_torch_adamw_holds_two_fp32_states_per_parameter():
    model, optimizer, n, tensors = _trained(torch.optim.AdamW, lr=1e-3)
    ledger = count(held_tensors(model, optimizer))
    # exp_avg and exp_avg_sq (8 bytes a parameter) and a 4-byte fp32 step counter per tensor.
    assert ledger == Ledger(params_bytes=4 * n, grads_bytes=4 * n, master_params_bytes=0,
                            optimizer_state_bytes=8 * n + 4 * tensors)


def test_sgd_without_momentum_holds_no_state():
    model, optimizer, n, _ = _trained(torch.optim.SGD, lr=1e-3)
    assert count(held_tensors(model, optimizer)).optimizer_state_bytes == 0
    model.zero_grad(set_to_none=True)
    assert count(held_tensors(model, optimizer)) == Ledger(params_bytes=4 * n)


class Wrapper:
    """Stands in for a DeepSpeed ZeRO optimizer: its attributes are what held.py walks."""

    def __init__(self, model, n):
        flat = torch.zeros(n)
        self.bit16_groups_flat = [flat]  # parameters are views of it
        offset = 0
        for p in model.parameters():
            p.data = flat[offset:offset + p.numel()].view_as(p)
            offset += p.numel()
        self.single_partition_of_fp32_groups = [torch.zeros(n // 2, requires_grad=True)]
        self.single_partition_of_fp32_groups[0].grad = torch.zeros(n // 2)
        self.averaged_gradients = {0: [torch.zeros(n // 2)]}
        self.optimizer = torch.optim.AdamW(self.single_partition_of_fp32_groups)
        self.optimizer.state[self.single_partition_of_fp32_groups[0]] = {
            "exp_avg": torch.zeros(n // 2), "exp_avg_sq": torch.zeros(n // 2)}


def test_a_zero_style_wrapper_is_walked_by_its_attributes():
    model, _, n, _ = _trained(torch.optim.SGD, lr=1e-3)
    model.zero_grad(set_to_none=True)
    held = held_tensors(model, Wrapper(model, n))
    assert count(held) == Ledger(params_bytes=4 * n, grads_bytes=2 * (2 * n),
                                 master_params_bytes=2 * n, optimizer_state_bytes=4 * n)


@pytest.mark.parametrize("category", ["params", "master_params", "grads", "optimizer_state"])
def test_held_tensors_finds_every_category(category):
    # A ZeRO-style wrapper over AdamW holds all four: each must be found, with bytes in it.
    model, _, n, _ = _trained(torch.optim.AdamW, lr=1e-3)
    tensors = [t for t in held_tensors(model, Wrapper(model, n))[category] if t is not None]
    assert tensors and sum(t.numel() * t.element_size() for t in tensors) > 0
