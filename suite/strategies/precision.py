"""Precision: fp32, or bf16 / fp16 mixed precision (16-bit model, fp32 master copy and states).

For inference it is the dtype the model runs in; in distillation, the student's
training precision. Its memory term is the core of suite/memory_model.py.
"""

from __future__ import annotations

from suite.strategies.hardware import supports
from suite.strategy_spec import TORCH_DTYPES as DTYPES
from suite.strategy_spec import Axis, Rule, Strategy


def configure(values: dict, config: dict) -> dict:
    precision = values["precision"]
    # Switch off the other 16-bit section where a user's base config (deepspeed_base) has one.
    fragment = {k: {"enabled": False} for k in ("bf16", "fp16") if k in config and k != precision}
    if precision == "bf16":
        fragment["bf16"] = {"enabled": True}
    elif precision == "fp16":
        # Dynamic loss scaling (loss_scale 0), DeepSpeed's recommended start of 2**16.
        fragment["fp16"] = {"enabled": True, "loss_scale": 0, "initial_scale_power": 16}
    return fragment


STRATEGY = Strategy(
    name="precision",
    description="fp32, or bf16/fp16 mixed precision (16-bit weights, fp32 master and states)",
    axes=(Axis(name="precision", type=str, default="fp32", choices=tuple(DTYPES),
               help="training (or inference) precision; bf16/fp16 keep an fp32 master copy"),),
    rules=(Rule(name="fp16-needs-gpu",
                reason="fp16 is refused where the device has no fp16 kernels (the CPU: use "
                       "bf16 or fp32)",
                excludes=lambda v: v["precision"] == "fp16" and not supports(v["device"],
                                                                             "fp16")),
           Rule(name="bf16-needs-support",
                reason="bf16 is refused where the device has no bf16 kernels",
                excludes=lambda v: v["precision"] == "bf16" and not supports(v["device"],
                                                                             "bf16"))),
    configure=configure,
)
