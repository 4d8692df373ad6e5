"""ZeRO-3's optimizer sub-groups (suite/zero3_sub_groups.py) against DeepSpeed's own cut, and
what sub_group_size does to the predicted step."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from deepspeed.runtime.zero.stage3 import DeepSpeedZeroOptimizer_Stage3

from suite.models import model_spec
from suite.peak_model import predict_peak
from suite.scenario import Scenario
from suite.zero3_sub_groups import flat_copy_elements, sub_groups

REPO = Path(__file__).resolve().parents[2]
MODEL = "gpt-L7-d616-h11-ff2464-V13608-S2048"  # the demo's ZeRO-3 boundary (41.6M)


@dataclass
class Partitioned:
    """What DeepSpeed's sub-group cut reads of a parameter: its partition's size."""

    numel: int
    n: int

    def partition_numel(self) -> int:
        return -(-self.numel // self.n)


@pytest.mark.parametrize("sub_group_size", [0, 10_000, 1_000_000, 5_000_000, int(1e9)])
def test_the_cut_is_deepspeeds(sub_group_size):
    sizes = model_spec(MODEL).parameter_sizes()
    params = [Partitioned(numel=s, n=2) for s in sizes]
    # DeepSpeed 0.19.8's own method, on an object holding only the knob it reads
    theirs = DeepSpeedZeroOptimizer_Stage3._create_fp16_sub_groups(
        SimpleNamespace(sub_group_size=sub_group_size), params)
    assert sub_groups(sizes, 2, sub_group_size) == [[p.partition_numel() for p in g]
                                                   for g in theirs]


def test_a_lone_fp32_parameter_is_stepped_without_a_copy():
    assert flat_copy_elements([5], 4) == 0  # torch's flatten of one tensor is a view
    assert flat_copy_elements([5], 2) == 5  # converted to fp32: a copy
    assert flat_copy_elements([5, 3], 4) == 8


def demo_zero3(sub_group_size: int | None) -> dict:
    """The demo's ZeRO-3 scenario (suite/sweeps/capacity.toml) at `sub_group_size` (None:
    DeepSpeed's default)."""
    config = json.loads((REPO / "suite" / "sweeps" / "capacity_ds.json").read_text())
    config["zero_optimization"].pop("sub_group_size", None)
    if sub_group_size is not None:
        config["zero_optimization"]["sub_group_size"] = sub_group_size
    return Scenario.from_values(sweep="t", values={
        "model": MODEL, "world_size": 2, "zero_stage": 3, "micro_batch": 2, "seq_len": 64,
        "device": "cpu", "deepspeed_base": json.dumps(config)}).values


def test_sub_groups_bound_the_zero3_step_by_the_largest_sub_group():
    """One sub-group (DeepSpeed's default): AdamW's two fp32 temporaries and the flat fp32
    gradient copy of the whole partition, 12 bytes per element; in sub-groups of 1e6 elements
    the embedding's partition is stepped alone, in place of its gradient: 8 bytes per element
    of it. Measured on the demo's ZeRO-3 boundary, 2 ranks: step phase 432.3 MiB, as
    predicted to the byte."""
    spec = model_spec(MODEL)
    part = sum(-(-s // 2) for s in spec.parameter_sizes())
    embedding = -(-spec.vocab_size * spec.d_model // 2)
    whole, grouped = predict_peak(demo_zero3(None)), predict_peak(demo_zero3(1_000_000))
    counters = len(sub_groups(spec.parameter_sizes(), 2, 1_000_000))  # AdamW's, one per group
    assert whole.phase_bytes("step") - grouped.phase_bytes("step") == \
        12 * part - 8 * embedding - 4 * (counters - 1)
    assert round(grouped.phase_bytes("step") / 2**20, 1) == 432.3
    assert grouped.peak_phase == "backward"  # no longer the step
