"""Communication bucket sizes: DeepSpeed's defaults, or scaled to the model as the ecosystem does.

DeepSpeed's defaults are sized for GPUs: a ZeRO-1/2/3 reduce bucket of 5e8 elements
(2 GB in fp32), allocated whole -- address space a CPU rank's host_mem_cap counts though
its pages stay untouched. "auto" sizes them by the model's width h as the Hugging Face
DeepSpeed integration's "auto" values do: reduce bucket h², ZeRO-3 prefetch bucket
0.9·h², ZeRO-3 parameter persistence threshold 10·h (parameters below it stay whole).
suite/memory_model.py reads the sizes from the DeepSpeed config, so its terms follow.
"""

from __future__ import annotations

from suite.models import model_spec
from suite.strategy_spec import Axis, Rule, Strategy

CHOICES = ("deepspeed", "auto")


def auto_sizes(d_model: int) -> dict:
    """The zero_optimization keys "auto" sets for a model of width `d_model`."""
    return {"reduce_bucket_size": d_model * d_model,
            "stage3_prefetch_bucket_size": int(0.9 * d_model * d_model),
            "stage3_param_persistence_threshold": 10 * d_model}


def configure(values: dict, config: dict) -> dict:
    if values["bucket_sizes"] != "auto":
        return {}
    sizes = auto_sizes(model_spec(values["model"]).d_model)
    if values["zero_stage"] != 3:  # the stage-3 keys mean nothing below it
        sizes = {"reduce_bucket_size": sizes["reduce_bucket_size"]}
    return {"zero_optimization": sizes}


STRATEGY = Strategy(
    name="buckets",
    description="communication bucket sizes: DeepSpeed's defaults or scaled to the model "
                "(reduce h², ZeRO-3 prefetch 0.9·h², persistence 10·h)",
    axes=(
        Axis(name="bucket_sizes", type=str, default="deepspeed", choices=CHOICES,
             help="ZeRO bucket sizes: DeepSpeed's defaults (reduce bucket 5e8 elements) or "
                  "'auto', scaled to the model's width as Hugging Face's integration does"),
    ),
    rules=(
        Rule(name="bucket-sizes-need-zero",
             reason="the reduce and prefetch buckets are ZeRO's: stage 0 has none",
             excludes=lambda v: v["bucket_sizes"] != "deepspeed" and v["zero_stage"] == 0),
        Rule(name="bucket-sizes-or-prefetch-bucket",
             reason="'auto' sets the ZeRO-3 prefetch bucket itself: leave prefetch_bucket at 0",
             excludes=lambda v: v["bucket_sizes"] != "deepspeed" and v["prefetch_bucket"] > 0),
    ),
    kinds=("train", "distill"),
    configure=configure,
)
