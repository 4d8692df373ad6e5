"""Asynchronous compute: DeepSpeed's communication overlap, ZeRO-3 prefetching, pinned memory.

`default` leaves DeepSpeed's own setting (overlap_comm is on at stage 3 and off at
1-2; memsweep pins offloaded memory on GPUs). Pinned memory matters only for
copies between host and GPU.
"""

from __future__ import annotations

from suite.strategies.hardware import supports
from suite.strategy_spec import Axis, Rule, Strategy

SWITCH = ("default", "on", "off")


def configure(values: dict, config: dict) -> dict:
    zero: dict = {}
    if values["overlap_comm"] != "default":
        zero["overlap_comm"] = values["overlap_comm"] == "on"
    if values["prefetch_bucket"]:
        zero["stage3_prefetch_bucket_size"] = values["prefetch_bucket"]
    if values["pin_memory"] != "default":
        for section in ("offload_optimizer", "offload_param"):
            if section in config.get("zero_optimization", {}):
                zero[section] = {"pin_memory": values["pin_memory"] == "on"}
    return {"zero_optimization": zero} if zero else {}


def _offload(v: dict) -> bool:
    return v["offload_optimizer"] != "none" or v["offload_param"] != "none"


STRATEGY = Strategy(
    name="async",
    description="asynchronous compute: overlap ZeRO communication with compute, ZeRO-3 "
                "prefetch bucket, pinned offload memory",
    axes=(
        Axis(name="overlap_comm", type=str, default="default", choices=SWITCH,
             help="overlap ZeRO's gradient reduction with backward (DeepSpeed overlap_comm)"),
        Axis(name="prefetch_bucket", type=int, default=0, minimum=0,
             values="0 (DeepSpeed's default) or elements",
             help="ZeRO-3 parameter prefetch bucket in elements (stage3_prefetch_bucket_size);"
                  " 0 keeps DeepSpeed's default"),
        Axis(name="pin_memory", type=str, default="default", choices=SWITCH,
             help="page-locked host memory for offloaded state (default: on GPUs only)"),
    ),
    rules=(
        Rule(name="overlap-comm-needs-zero",
             reason="overlap_comm overlaps ZeRO's gradient reduction: stage 0 has none to "
                    "overlap",
             excludes=lambda v: v["overlap_comm"] != "default" and v["zero_stage"] == 0),
        Rule(name="prefetch-needs-zero-3",
             reason="the prefetch bucket gathers ZeRO-3 parameter partitions ahead of use: "
                    "stages 0-2 do not partition parameters",
             excludes=lambda v: v["prefetch_bucket"] > 0 and v["zero_stage"] != 3),
        Rule(name="pin-memory-needs-offload",
             reason="pin_memory applies to offloaded state: offload nothing and it changes "
                    "nothing",
             excludes=lambda v: v["pin_memory"] != "default" and not _offload(v)),
        Rule(name="pin-memory-needs-gpu",
             reason="pinned (page-locked) memory speeds up host<->GPU copies; DeepSpeed's CPU "
                    "accelerator ignores it",
             excludes=lambda v: v["pin_memory"] == "on" and not supports(v["device"],
                                                                        "pinned-memory")),
    ),
    kinds=("train", "distill"),
    configure=configure,
)
