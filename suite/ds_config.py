"""The DeepSpeed config of a scenario: a pure function of its axis values.

Everything DeepSpeed is told comes from here, so a record's scenario says all
there is to know about how it ran. Keys are DeepSpeed 0.14+ config keys
(https://www.deepspeed.ai/docs/config-json/).
"""

from __future__ import annotations

LEARNING_RATE = 1e-4
# DeepSpeed logs every `steps_per_print` steps; a sweep never reaches this many.
QUIET_STEPS = 10**9


def deepspeed_config(scenario) -> dict:
    """DeepSpeed's config dict for `scenario` (a `suite.scenario.Scenario`)."""
    v = scenario.values
    stage, offload, device = v["zero_stage"], v["offload_optimizer"], v["device"]
    zero: dict = {"stage": stage}
    if stage == 3:
        # DeepSpeed keeps parameters below stage3_param_persistence_threshold (1e5 elements by
        # default) whole on every rank. In a CPU-scale model that is nearly every layer, so
        # ZeRO-3 would shard only the embedding; 0 shards them all, ZeRO-3 as the paper has it.
        # (In cluster-scale models the default spares only biases and norms.)
        zero["stage3_param_persistence_threshold"] = 0
    if offload != "none":
        # Pinned host memory speeds up GPU<->host copies; on the CPU accelerator it is meaningless.
        zero["offload_optimizer"] = {"device": offload, "pin_memory": device == "cuda"}
    config = {
        "train_micro_batch_size_per_gpu": v["micro_batch"],
        "gradient_accumulation_steps": v["grad_accum"],
        "train_batch_size": v["micro_batch"] * v["grad_accum"] * v["world_size"],
        "zero_optimization": zero,
        "optimizer": _optimizer(v["optimizer"], offload=offload != "none", device=device),
        "wall_clock_breakdown": False,
        "steps_per_print": QUIET_STEPS,
    }
    if v["precision"] == "bf16":
        config["bf16"] = {"enabled": True}
    elif v["precision"] == "fp16":
        # Dynamic loss scaling (loss_scale 0), DeepSpeed's recommended start of 2**16.
        config["fp16"] = {"enabled": True, "loss_scale": 0, "initial_scale_power": 16}
    if v["optimizer"] == "sgd" and stage > 0:
        # ZeRO asserts unless told: torch's SGD is not on DeepSpeed's list of tested optimizers.
        # It steps this rank's fp32 partition like any torch optimizer (on the host under offload).
        config["zero_allow_untested_optimizer"] = True
    return config


def _optimizer(name: str, *, offload: bool, device: str) -> dict:
    if name == "sgd":
        # Plain SGD (no momentum): the "no optimizer state" end of the optimizer axis.
        return {"type": "SGD", "params": {"lr": LEARNING_RATE, "momentum": 0.0}}
    params: dict = {"lr": LEARNING_RATE, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01}
    if device == "cpu" and not offload:
        # DeepSpeed's FusedAdam would JIT-compile a CPU kernel inside the first run; torch's
        # AdamW keeps the same states (fp32 exp_avg, exp_avg_sq) without that. Under offload
        # DeepSpeed picks its prebuilt DeepSpeedCPUAdam itself; on GPU its FusedAdam.
        params["torch_adam"] = True
    return {"type": "AdamW", "params": params}
