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
from dataclasses import replace
from typing import Any

from suite.models import ModelSpec, model_spec
from suite.pipeline_partition import stage_layers, stage_parameter_sizes
from suite.prediction import CATEGORIES, Prediction, Term
from suite.resolved import Resolved
from suite.strategy_spec import Axis, LayerShare, Module, RankContext, Rule, Strategy, Values


def configure(values: Values, config: dict) -> dict:
    if values["pipeline_stages"] == 1:
        return {}
    # DeepSpeed's pipeline engine derives the batch from the micro-batch, the accumulation and
    # its data-parallel size; the base config's counts the whole world.
    return {"train_batch_size": None}


def rank_share(values: Values, spec: ModelSpec, rank: int) -> list[int]:
    stages = int(values["pipeline_stages"])
    return stage_parameter_sizes(spec, stages, rank % stages)


def layer_share(values: Values, spec: ModelSpec, rank: int) -> LayerShare:
    """A stage's blocks, whether it has the embedding or the head, and the micro-batches it
    holds at once: 1F1B runs stages - stage forwards before its first backward."""
    stages = int(values["pipeline_stages"])
    if stages == 1:
        return LayerShare(blocks=spec.n_layer)
    stage, micro = rank % stages, int(values["grad_accum"])
    mine = stage_layers(spec, stages)[stage]
    in_flight = min(stages - stage, micro)
    last = stage == stages - 1
    # The engine's buffers (max(2, in flight) slots): a sent output is dropped at its backward;
    # the last stage never drops its logits, each slot's stay until it is reused.
    return LayerShare(blocks=sum(layer.kind == "block" for layer in mine), embeds=stage == 0,
                      head=last, in_flight=in_flight,
                      kept_outputs=min(2, micro) if last else in_flight)


def memory_term(values: Values, prediction: Prediction) -> Prediction:
    """Where DeepSpeed 0.19.8's pipeline engine keeps other state than the ordinary engine.

    ZeRO-1: backward runs outside ZeRO, which sets the reduce bucket up at the first backward;
    the engine's one reduction after the last micro-batch appends a second bucket
    (reduce_gradients(pipeline_parallel=True)), both released at the step; after that
    reduction a rank keeps only its partition's gradients. bf16 at ZeRO-0: the engine wraps
    the optimizer in BF16_Optimizer (fp32 gradient accumulators, one flat group stepped)
    instead of the ordinary engine's unfused wrapper.
    """
    if values["pipeline_stages"] == 1 or prediction.mode != "deepspeed":  # the paper's stays
        return prediction
    if values["zero_stage"] == 1:
        terms = tuple(_zero1(values, t, prediction.terms) for t in prediction.terms)
    elif values["zero_stage"] == 0 and values["precision"] == "bf16":
        terms = tuple(_bf16(t, prediction.terms) for t in prediction.terms)
    else:
        return prediction
    return _with_terms(prediction, terms)


def _zero1(values: Values, t: Term, terms: tuple[Term, ...]) -> Term:
    if t.category == "buffers" and "reduce bucket" in t.name:
        copies = 2 if values["overlap_comm"] == "on" else 1
        return replace(t, nbytes=t.nbytes * (copies + 1) // copies,
                       name="ipg_buckets (reduce bucket, set up in backward, one more appended "
                            "by the pipeline's reduction, released at the step)",
                       note=f"{copies + 1} x reduce_bucket_size elements")
    if t.category == "grads" and t.name == "param.grad":  # ZeRO-1 with accumulation
        part = next(x.nbytes for x in terms if x.name == "single_partition_of_fp32_groups") // 4
        width = 4 if values["precision"] == "fp32" else 2
        return Term(category="grads", name="averaged_gradients", nbytes=width * part,
                    note="the pipeline reduces once, after its last micro-batch, into this "
                         "rank's partition")
    return t


def _bf16(t: Term, terms: tuple[Term, ...]) -> Term:
    psi = _elements(terms)
    if t.category == "grads":
        return Term(category="grads", name="fp32_groups_gradients_flat", nbytes=4 * psi,
                    note="BF16_Optimizer: fp32 gradient accumulators, for the whole run")
    if t.category == "master_params":
        return replace(t, name="fp32_groups_flat_partition", note="BF16_Optimizer")
    if t.category == "optimizer_state" and t.nbytes % psi:
        # torch's AdamW keeps one fp32 step counter per tensor it steps: one flat group here
        return replace(t, nbytes=t.nbytes // psi * psi + 4, note="+ 1 fp32 step counter")
    return t


def _elements(terms: tuple[Term, ...]) -> int:
    """The stage's parameter count, from its fp32 master copy (ZeRO-0 at 16-bit: all of it)."""
    master = next(x for x in terms if x.category == "master_params")
    return master.nbytes // 4


def _with_terms(prediction: Prediction, terms: tuple[Term, ...]) -> Prediction:
    total = {c: sum(t.nbytes for t in terms if t.category == c) for c in CATEGORIES}
    return replace(prediction, terms=terms, params_bytes=total["params"],
                   grads_bytes=total["grads"], master_params_bytes=total["master_params"],
                   optimizer_state_bytes=total["optimizer_state"],
                   buffer_bytes=total["buffers"])


def prepare(run: Resolved, ctx: RankContext) -> None:
    """Before every scenario: a process may run several (tests/jobs/batch_runs.py), and the
    pipeline engine leaves its grid as DeepSpeed's global `mpu`, which a later engine would
    take for its own process groups."""
    from deepspeed.runtime.pipe.topology import PipelineParallelGrid  # heavy: in the rank
    from deepspeed.utils import groups  # heavy: in the rank

    if isinstance(groups.mpu, PipelineParallelGrid):
        groups.mpu = None


def observe(run: Resolved, config: dict, ctx: RankContext) -> dict:
    stages = int(run["pipeline_stages"])
    return {"pipeline_stage": ctx.rank % stages} if stages > 1 else {}


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
    prepare=prepare,
    observe=observe,
    splits=lambda v: v["pipeline_stages"],
    rank_share=rank_share,
    layer_share=layer_share,
    memory_term=memory_term,
    build=build,
    train_step=train_step,
)
