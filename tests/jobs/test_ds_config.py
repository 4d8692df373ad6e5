"""The DeepSpeed config built from a scenario (a pure function: no DeepSpeed needed)."""

from __future__ import annotations

import json

import pytest

from suite.ds_config import QUIET_STEPS, deepspeed_config
from suite.scenario import Scenario


def config(**values) -> dict:
    return deepspeed_config(Scenario.from_values(sweep="t", values=values))


def test_batch_sizes():
    c = config(micro_batch=3, grad_accum=5, world_size=4)
    assert c["train_micro_batch_size_per_gpu"] == 3
    assert c["gradient_accumulation_steps"] == 5
    assert c["train_batch_size"] == 3 * 5 * 4


@pytest.mark.parametrize("stage", [0, 1, 2, 3])
def test_zero_stage(stage):
    assert config(zero_stage=stage)["zero_optimization"]["stage"] == stage


def test_stage_3_shards_every_parameter():
    assert config(zero_stage=3)["zero_optimization"]["stage3_param_persistence_threshold"] == 0
    assert "stage3_param_persistence_threshold" not in config(zero_stage=2)["zero_optimization"]


def test_optimizer_offload():
    assert "offload_optimizer" not in config(zero_stage=2)["zero_optimization"]
    cpu = config(zero_stage=2, offload_optimizer="cpu")["zero_optimization"]["offload_optimizer"]
    assert cpu == {"device": "cpu", "pin_memory": False}
    gpu = config(zero_stage=2, offload_optimizer="cpu", device="cuda")
    assert gpu["zero_optimization"]["offload_optimizer"]["pin_memory"] is True


def test_adamw():
    opt = config()["optimizer"]
    assert opt["type"] == "AdamW"
    assert opt["params"]["lr"] > 0
    assert opt["params"]["torch_adam"] is True  # CPU without offload: no JIT-compiled FusedAdam


def test_adamw_uses_deepspeeds_own_kernels_on_gpu_and_under_offload():
    assert "torch_adam" not in config(device="cuda")["optimizer"]["params"]
    assert "torch_adam" not in config(zero_stage=1, offload_optimizer="cpu")["optimizer"]["params"]


def test_sgd_has_no_momentum_and_is_allowed_under_zero():
    c = config(optimizer="sgd", zero_stage=1)
    assert c["optimizer"] == {"type": "SGD", "params": {"lr": c["optimizer"]["params"]["lr"],
                                                        "momentum": 0.0}}
    assert c["zero_allow_untested_optimizer"] is True
    assert "zero_allow_untested_optimizer" not in config(optimizer="sgd")


def test_precision_sections():
    assert "bf16" not in config() and "fp16" not in config()
    assert config(precision="bf16")["bf16"] == {"enabled": True}
    fp16 = config(precision="fp16", device="cuda")["fp16"]
    assert fp16["enabled"] is True and fp16["loss_scale"] == 0  # dynamic loss scaling


def test_deepspeed_is_kept_quiet():
    c = config()
    assert c["wall_clock_breakdown"] is False
    assert c["steps_per_print"] == QUIET_STEPS


def test_pure_and_json_serialisable():
    s = Scenario.from_values(sweep="t", values={"zero_stage": 3, "offload_optimizer": "cpu"})
    before = s.to_json()
    first = deepspeed_config(s)
    assert first["zero_optimization"]["offload_optimizer"]["device"] == "cpu"
    first["zero_optimization"]["stage"] = 99  # a caller's edit must not reach the next call
    second = deepspeed_config(s)
    assert second["zero_optimization"]["stage"] == 3 and s.to_json() == before
    assert json.loads(json.dumps(second)) == second
