"""Pipeline parallelism: the model's layers cut into `pipeline_stages` stages, one per rank of
a pipeline (DeepSpeed's PipelineModule, `partition_method="parameters"`).

Each rank builds only its stage's layers (suite/pipeline_layers.py); DeepSpeed's cut is
reproduced in suite/pipeline_partition.py, so the memory model gives each rank exactly its
stage's parameters. A tied head (GPT) is the token embedding again on the last stage
(TiedLayerSpec): both ends hold it, and DeepSpeed sums the two copies' gradients, so the
loss is the whole module's. One step is `engine.train_batch`: `grad_accum` micro-batches
through the pipeline (forward, backward and the optimizer step in one call). Consecutive
ranks form a pipeline (stage = rank % pipeline_stages); ZeRO-1 shards over the
data-parallel ranks, world_size / pipeline_stages (suite/parallel.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from suite.models import ModelSpec, model_spec
from suite.pipeline_partition import stage_parameter_sizes
from suite.resolved import Resolved
from suite.strategy_spec import Axis, Module, RankContext, Rule, Strategy, Values


def configure(values: Values, config: dict) -> dict:
    if values["pipeline_stages"] == 1:
        return {}
    # DeepSpeed's pipeline engine derives the batch from the micro-batch, the accumulation and
    # its data-parallel size; the base config's counts the whole world.
    return {"train_batch_size": None}


def rank_share(values: Values, spec: ModelSpec, rank: int) -> list[int]:
    stages = int(values["pipeline_stages"])
    return stage_parameter_sizes(spec, stages, rank % stages)


def build(run: Resolved, ctx: RankContext) -> Module:
    stages = int(run["pipeline_stages"])  # the only model parallelism (rule pipeline-alone)
    return ctx.tools.build_pipeline(run.model, stages=stages,
                                    data_parallel=int(run["world_size"]) // stages)


def train_step(engine: Any, x: Any, y: Any, micro_steps: int,
               mark: Callable[[str], None] | None) -> float:
    """`engine.train_batch` over `micro_steps` copies of (x, y); with `mark`, the points where
    the first forward, the first backward and the optimizer step begin (1F1B interleaves
    forwards and backwards: "forward" spans what the pipeline holds before its first
    backward)."""
    if mark is not None:
        _mark_instructions(engine, mark)
    mark and mark("forward")
    loss = engine.train_batch(iter([(x, y)] * micro_steps))
    mark and mark("end")
    if mark is not None:
        del engine._INSTRUCTION_MAP  # back to the class's map
    return float(loss.item())


def _mark_instructions(engine: Any, mark: Callable[[str], None]) -> None:
    # The pipeline engine runs its schedule through a class-level {instruction: method} map; an
    # instance map in front of it marks the first backward and the optimizer step.
    table = dict(type(engine)._INSTRUCTION_MAP)
    seen: set[str] = set()
    for kind, point in (("BackwardPass", "backward"), ("OptimizerStep", "step")):
        cls = next(c for c in table if c.__name__ == kind)
        table[cls] = _marked(table[cls], point, mark, seen)
    engine._INSTRUCTION_MAP = table


def _marked(method, point: str, mark: Callable[[str], None], seen: set[str]):
    def run(self, **kwargs):
        if point not in seen:
            seen.add(point)
            mark(point)
        return method(self, **kwargs)
    return run


def _needs(values: Values) -> bool:
    return values["pipeline_stages"] > 1


def _layers(values: Values) -> int:
    spec = model_spec(values["model"])
    return spec.n_layer


STRATEGY = Strategy(
    name="pipeline",
    description="cut the model's layers into stages, one per rank of a pipeline (DeepSpeed "
                "PipelineModule, 1F1B)",
    axes=(Axis(name="pipeline_stages", type=int, default=1, minimum=1,
               help="pipeline stages the layers are cut into (1: off); world_size = data "
                    "parallel x pipeline_stages; grad_accum micro-batches per step"),),
    rules=(
        Rule(name="pipeline-zero-at-most-1",
             reason="DeepSpeed refuses ZeRO-2 and ZeRO-3 with pipeline parallelism (they shard "
                    "gradients, which the pipeline accumulates across micro-batches); use "
                    "zero_stage 0 or 1",
             excludes=lambda v: _needs(v) and v["zero_stage"] > 1),
        Rule(name="pipeline-stages-at-most-layers",
             reason="pipeline_stages must not exceed the model's number of blocks",
             excludes=lambda v: _needs(v) and v["pipeline_stages"] > _layers(v)),
        Rule(name="pipeline-divides-world",
             reason="world_size must be a multiple of pipeline_stages (data parallel x "
                    "pipeline stages)",
             excludes=lambda v: v["world_size"] % v["pipeline_stages"] != 0),
        Rule(name="pipeline-alone",
             reason="the pipeline's stages are built from the catalogue's layers: tensor "
                    "and sequence parallelism, offloading, activation checkpointing and "
                    "pruning do not apply to them here",
             excludes=lambda v: _needs(v) and (
                 v.get("tensor_parallel", 1) != 1 or v.get("sequence_parallel", 1) != 1
                 or v["checkpoint_every"] != 0
                 or v["pruning"] != "none" or v["offload_optimizer"] != "none"
                 or v["offload_param"] != "none")),
    ),
    kinds=("train",),
    configure=configure,
    splits=lambda v: v["pipeline_stages"],
    rank_share=rank_share,
    build=build,
    train_step=train_step,
)
