"""A scenario resolved once: typed workload, presets filled in, model spec, strategies on."""

from __future__ import annotations

import pytest

from suite.models import model_spec
from suite.resolved import Workload
from suite.sweep import parse_sweep


def _scenario(**axes):
    return parse_sweep({"sweep": {"name": "r"}, "axes": {k: [v] for k, v in axes.items()}}
                       ).scenarios[0]


def test_resolve_fills_in_presets_and_types_the_workload():
    scenario = _scenario(kind="inference", compression="pruned-int8", micro_batch=2)
    run = scenario.resolve()
    assert run.workload == Workload(model="tiny", world_size=1, micro_batch=2, seq_len=64,
                                    grad_accum=1, device="cpu", kind="inference",
                                    deepspeed_base="")
    assert run["pruning"] == "structured-50" and run["quantize"] == "int8"  # the preset's
    assert scenario["pruning"] == "none"  # the scenario itself is as the sweep wrote it
    assert run.model == model_spec("tiny") and run.run_id == scenario.run_id
    assert run.active == ("pruning", "quantization", "compression")
    with pytest.raises(TypeError):
        run.values["pruning"] = "none"  # read-only


def test_a_workload_refuses_untyped_values():
    with pytest.raises(ValueError, match="world_size: expected int"):
        Workload(model="tiny", world_size="2", micro_batch=1, seq_len=8, grad_accum=1,
                 device="cpu", kind="train", deepspeed_base="")
