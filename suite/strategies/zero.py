"""ZeRO stage 0-3: shard optimizer states (1), + gradients (2), + parameters (3) over the ranks.

Its memory term is the core of suite/memory_model.py (the ZeRO paper's model states).

`stage3_live` sets the two limits that decide what ZeRO-3 keeps gathered:
stage3_max_live_parameters (how many gathered elements prefetching may fill up to) and
stage3_max_reuse_distance (a used parameter stays gathered if the trace uses it again within
that many elements). DeepSpeed's defaults, 1e9 each, were chosen for GPU-scale models: one
GPT block is 12h² + 13h parameters, so 1e9 is 0.56 of a block at 175b (h = 12288), 3.2 at
13b, 5 at 6.7b -- of the order of one block, a few percent of the model. A CPU-scale model
(`small`: 3.7M parameters) is far under 1e9, so with the defaults ZeRO-3 keeps the whole
model gathered from forward to backward (suite/zero3_gather.py), which no GPU-scale ZeRO-3
run does. "block" sets both to one block's parameters of the model trained: the limits
bind as they do at scale, in units a DeepSpeed user sizes them by (a layer's parameters).
"""

from __future__ import annotations

from suite.models import model_spec
from suite.strategy_spec import Axis, Rule, Strategy

LIVE = ("deepspeed", "block")


def live_limit(model: str) -> int:
    """stage3_max_live_parameters = stage3_max_reuse_distance under stage3_live = "block"."""
    return sum(model_spec(model).block_sizes())


def configure(values: dict, config: dict) -> dict:
    stage = values["zero_stage"]
    zero: dict = {"stage": stage}
    if stage == 3:
        # DeepSpeed keeps parameters below stage3_param_persistence_threshold (1e5 elements by
        # default) whole on every rank. In a CPU-scale model that is nearly every layer, so
        # ZeRO-3 would shard only the embedding; 0 shards them all, ZeRO-3 as the paper has it.
        # (In cluster-scale models the default spares only biases and norms.)
        zero["stage3_param_persistence_threshold"] = 0
    if values["stage3_live"] == "block":
        limit = live_limit(values["model"])
        zero.update(stage3_max_live_parameters=limit, stage3_max_reuse_distance=limit)
    return {"zero_optimization": zero}


STRATEGY = Strategy(
    name="zero",
    description="DeepSpeed ZeRO: 1 shards optimizer states, 2 + gradients, 3 + parameters",
    axes=(Axis(name="zero_stage", type=int, default=0, choices=(0, 1, 2, 3),
               help="DeepSpeed ZeRO stage: 1 shards optimizer states, 2 +gradients, "
                    "3 +parameters"),
          Axis(name="stage3_live", type=str, default="deepspeed", choices=LIVE,
               help="what ZeRO-3 keeps gathered: DeepSpeed's stage3_max_live_parameters and "
                    "stage3_max_reuse_distance (1e9 each) or 'block', both one transformer "
                    "block's parameters (the defaults are of that order at GPU scale)")),
    rules=(
        Rule(name="stage3-live-needs-zero-3",
             reason="stage3_live limits what ZeRO-3 keeps gathered: stages 0-2 gather nothing",
             excludes=lambda v: v["stage3_live"] != "deepspeed" and v["zero_stage"] != 3),
        Rule(name="stage3-live-or-nvme-param",
             reason="parameters on NVMe release after each use already (the offload strategy "
                    "sets stage3_max_reuse_distance = 0): leave stage3_live at 'deepspeed'",
             excludes=lambda v: v["stage3_live"] != "deepspeed" and v["offload_param"] == "nvme"),
    ),
    kinds=("train", "distill"),
    configure=configure,
)
