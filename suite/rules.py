"""Catalogue rules: combinations that cannot run, each with its reason.

A combination that is valid but does not fit in memory is not excluded here:
it runs and is recorded `oom`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from suite.models import model_spec


@dataclass(frozen=True, kw_only=True)
class Rule:
    name: str
    reason: str
    excludes: Callable[[dict], bool]  # takes the scenario's axis values


RULES: tuple[Rule, ...] = (
    Rule(name="offload-needs-zero",
         reason="offload_optimizer needs ZeRO stage 1, 2 or 3 (DeepSpeed has no stage-0 offload)",
         excludes=lambda v: v["offload_optimizer"] != "none" and v["zero_stage"] == 0),
    Rule(name="fp16-needs-gpu",
         reason="fp16 training is refused on the CPU (no fp16 kernels; use bf16 or fp32)",
         excludes=lambda v: v["precision"] == "fp16" and v["device"] == "cpu"),
    Rule(name="seq-len-fits-model",
         reason="seq_len is longer than the model's max_seq_len (its position table)",
         excludes=lambda v: v["seq_len"] > model_spec(v["model"]).max_seq_len),
)


def violated_rule(values: dict) -> Rule | None:
    return next((r for r in RULES if r.excludes(values)), None)
