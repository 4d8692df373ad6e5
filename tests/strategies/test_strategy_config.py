"""Each strategy's DeepSpeed fragment, the user's base config, and the memory-model terms."""

from __future__ import annotations

import json

import pytest

from suite.ds_config import deepspeed_config
from suite.memory_model import predict
from suite.models import model_spec
from suite.scenario import Scenario

TINY = model_spec("tiny")


def scenario(**values) -> Scenario:
    return Scenario.from_values(sweep="t", values=values)


def config(**values) -> dict:
    return deepspeed_config(scenario(**values))


def test_nvme_offload_swaps_into_a_folder_of_its_own_per_run():
    s = scenario(zero_stage=3, offload_optimizer="nvme", offload_param="nvme",
                 nvme_path="/scratch/nvme/")
    zero = deepspeed_config(s)["zero_optimization"]
    assert zero["offload_optimizer"]["nvme_path"] == f"/scratch/nvme/{s.run_id}"
    assert zero["offload_param"]["nvme_path"] == f"/scratch/nvme/{s.run_id}"
    assert zero["offload_param"]["buffer_size"] >= TINY.vocab_size * TINY.d_model // 2
    assert zero["stage3_max_reuse_distance"] == 0
    assert deepspeed_config(s)["aio"]["block_size"] > 0


def test_param_offload_to_cpu():
    zero = config(zero_stage=3, offload_param="cpu")["zero_optimization"]
    assert zero["offload_param"] == {"device": "cpu", "pin_memory": False}
    assert "aio" not in config(zero_stage=3, offload_param="cpu")


@pytest.mark.parametrize("value, expected", [("on", True), ("off", False)])
def test_async_compute(value, expected):
    zero = config(zero_stage=2, overlap_comm=value)["zero_optimization"]
    assert zero["overlap_comm"] is expected
    assert "overlap_comm" not in config(zero_stage=2)["zero_optimization"]  # DeepSpeed's default
    zero = config(zero_stage=3, prefetch_bucket=12345)["zero_optimization"]
    assert zero["stage3_prefetch_bucket_size"] == 12345
    zero = config(zero_stage=3, offload_optimizer="cpu", offload_param="cpu", device="cuda",
                  pin_memory="off")["zero_optimization"]
    assert zero["offload_optimizer"]["pin_memory"] is False
    assert zero["offload_param"]["pin_memory"] is False


def test_optimizers():
    assert config(optimizer="sgd-momentum")["optimizer"]["params"]["momentum"] == 0.9
    adafactor = config(optimizer="adafactor", zero_stage=1)
    assert adafactor["optimizer"]["type"] == "Adafactor"  # DeepSpeed builds torch.optim.Adafactor
    assert adafactor["zero_allow_untested_optimizer"] is True
    bnb = config(optimizer="adamw8bit", zero_stage=2)
    assert "optimizer" not in bnb and bnb["zero_allow_untested_optimizer"] is True


def test_a_user_base_config_is_what_strategies_modify():
    base = json.dumps({"gradient_clipping": 1.0, "fp16": {"enabled": True},
                       "train_batch_size": 999, "optimizer": {"type": "Lamb"},
                       "zero_optimization": {"reduce_bucket_size": 1000}})
    c = config(deepspeed_base=base, zero_stage=2, world_size=2)
    assert c["gradient_clipping"] == 1.0  # kept: no strategy touches it
    assert c["zero_optimization"] == {"reduce_bucket_size": 1000, "stage": 2}  # merged
    assert c["train_batch_size"] == 8  # the scenario's, not the base's
    assert c["fp16"] == {"enabled": False}  # fp32: the base's fp16 switched off
    assert c["optimizer"]["type"] == "AdamW"
    c = config(deepspeed_base=base, precision="bf16")
    assert c["bf16"] == {"enabled": True} and c["fp16"] == {"enabled": False}
    assert "optimizer" not in config(deepspeed_base=base, optimizer="adamw8bit")


def test_the_base_config_changes_the_run_id():
    assert scenario().run_id != scenario(deepspeed_base='{"gradient_clipping":1.0}').run_id


# The memory model's strategy terms (the core is suite/memory_model.py's).

def ledger(**values) -> dict:
    return predict(scenario(**values).values).ledger()


def test_optimizer_state_bytes_per_parameter():
    psi = TINY.n_params
    assert ledger(optimizer="sgd")["optimizer_state_bytes"] == 0
    assert ledger(optimizer="sgd-momentum")["optimizer_state_bytes"] == 4 * psi
    assert ledger(optimizer="adamw8bit")["optimizer_state_bytes"] == pytest.approx(2 * psi,
                                                                                   rel=0.05)
    assert ledger(optimizer="adafactor")["optimizer_state_bytes"] < 0.05 * 4 * psi  # factored
    flat = ledger(optimizer="adafactor", zero_stage=1, world_size=2)["optimizer_state_bytes"]
    assert flat == pytest.approx(4 * psi / 2, rel=0.01)  # flat partitions: not factored


def test_pruning_terms():
    dense = ledger()["params_bytes"]
    block = TINY.n_layer * (12 * TINY.d_model ** 2 + 9 * TINY.d_model) * 4
    assert ledger(pruning="structured-50")["params_bytes"] == pytest.approx(dense - block / 2,
                                                                            rel=0.01)
    masks = TINY.n_layer * 12 * TINY.d_model ** 2 * 4
    assert ledger(pruning="unstructured-50")["params_bytes"] == dense + masks


def test_inference_and_quantization_terms():
    fp32 = ledger(kind="inference")
    assert fp32["grads_bytes"] == fp32["optimizer_state_bytes"] == 0
    weights = TINY.n_layer * 12 * TINY.d_model ** 2
    int8 = ledger(kind="inference", quantize="int8")["params_bytes"]
    assert fp32["params_bytes"] - int8 == pytest.approx(3 * weights, rel=0.02)


def test_distillation_adds_the_teacher():
    teacher = model_spec("small")
    pair = ledger(kind="distill", teacher="small")["params_bytes"]
    aligned = teacher.n_params - (teacher.vocab_size - TINY.vocab_size) * teacher.d_model
    assert pair - ledger()["params_bytes"] == 2 * aligned  # bf16, the student's vocabulary


def test_terms_are_named_in_the_prediction():
    p = predict(scenario(optimizer="adamw8bit").values)
    assert any(t.name == "adamw8bit states" for t in p.terms)
