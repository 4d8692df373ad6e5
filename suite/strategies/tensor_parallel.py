"""Tensor parallelism: each layer's matrices split over `tensor_parallel` ranks (DeepSpeed AutoTP).

AutoTP's llama preset splits q/k/v, gate and up by output columns and o and down by input
rows (with an all-reduce after them); embeddings, norms and the head stay whole on every
rank. The ranks of one tensor-parallel group see the same data; ZeRO shards over the
data-parallel ranks, world_size / tensor_parallel (suite/parallel.py).
"""

from __future__ import annotations

from suite.models import ModelSpec, model_spec
from suite.strategy_spec import Axis, Rule, Strategy, Values


def configure(values: Values, config: dict) -> dict:
    tp = values["tensor_parallel"]
    if tp == 1:
        return {}
    # DeepSpeed checks train_batch_size against the whole world, not the data-parallel
    # ranks: left out, it derives it from the micro-batch, accumulation and its dp size.
    return {"tensor_parallel": {"autotp_size": tp, "preset_model": "llama"},
            "train_batch_size": None}


def _widths_divide(v: Values) -> bool:
    spec, tp = model_spec(v["model"]), v["tensor_parallel"]
    return all(n % tp == 0 for n in (spec.n_head, spec.kv_heads, spec.ffn))


def rank_share(values: Values, spec: ModelSpec, rank: int) -> list[int]:
    return spec.parameter_sizes(tp=values["tensor_parallel"])


STRATEGY = Strategy(
    name="tensor-parallel",
    description="split each layer's matrices over ranks (DeepSpeed AutoTP, llama preset)",
    axes=(Axis(name="tensor_parallel", type=int, default=1, minimum=1,
               help="ranks each layer is split over (1: off); world_size = data parallel x "
                    "tensor_parallel"),),
    rules=(
        Rule(name="tensor-parallel-needs-llama",
             reason="AutoTP's llama preset names the llama family's layers (q/k/v/o_proj, "
                    "gate/up/down_proj)",
             excludes=lambda v: v["tensor_parallel"] > 1
             and model_spec(v["model"]).family != "llama"),
        Rule(name="tensor-parallel-zero-at-most-2",
             reason="DeepSpeed's AutoTP training runs with ZeRO 0, 1 and 2",
             excludes=lambda v: v["tensor_parallel"] > 1 and v["zero_stage"] > 2),
        Rule(name="tensor-parallel-divides-world",
             reason="world_size must be a multiple of tensor_parallel (data parallel x tensor "
                    "parallel)",
             excludes=lambda v: v["world_size"] % v["tensor_parallel"] != 0),
        Rule(name="tensor-parallel-divides-widths",
             reason="heads, key/value heads and the MLP width must divide by tensor_parallel",
             excludes=lambda v: v["tensor_parallel"] > 1
             and model_spec(v["model"]).family == "llama" and not _widths_divide(v)),
    ),
    kinds=("train",),
    configure=configure,
    splits=lambda v: v["tensor_parallel"],
    rank_share=rank_share,
)
