"""Sequence parallelism (DeepSpeed Ulysses): each sample's sequence split over ranks.

Each of `sequence_parallel` consecutive ranks feeds its slice of the same samples and holds a
whole replica; around the attention core an all-to-all trades the sequence slice for a slice
of the heads (`deepspeed.sequence.layer.DistributedAttention`), so attention sees the whole
sequence, and back. ZeRO shards over all the ranks holding the same parameters (DeepSpeed's
sequence-data-parallel group), which also averages the gradients of every slice.

Only the `mpu` route: parallel_state_sp's groups passed to deepspeed.initialize(mpu=...).
DeepSpeed's config key `sequence_parallel_size` runs without error but does not reduce the
gradients over the sequence ranks (measured on 0.19.8): it is never written.
"""

from __future__ import annotations

from suite.models import model_spec
from suite.resolved import Resolved
from suite.strategy_spec import Axis, Module, RankContext, Rule, Strategy, Values


def configure(values: Values, config: dict) -> dict:
    if values["sequence_parallel"] == 1:
        return {}
    # DeepSpeed checks train_batch_size against world / sequence_parallel (its data-parallel
    # size under this mpu): left out, it derives it from the micro-batch and accumulation.
    return {"train_batch_size": None}


def prepare(run: Resolved, ctx: RankContext) -> None:
    """Before every scenario: a process may run several (tests/jobs/batch_runs.py), and an
    engine leaves its mpu as DeepSpeed's global one, which a later engine would take for its
    own process groups; then this scenario's sequence groups, fresh."""
    from deepspeed.runtime.sequence_parallel import parallel_state_sp  # heavy: in the rank
    from deepspeed.utils import groups  # heavy: in the rank

    if groups.mpu is parallel_state_sp:
        groups.mpu = None
    parallel_state_sp._release_sequence_parallel_groups()
    if run["sequence_parallel"] > 1:
        parallel_state_sp.initialize_sequence_parallel(run["sequence_parallel"])


def mpu(run: Resolved, ctx: RankContext):
    if run["sequence_parallel"] == 1:
        return None
    from deepspeed.runtime.sequence_parallel import parallel_state_sp  # heavy: in the rank

    return parallel_state_sp


def transform(model: Module, run: Resolved, ctx: RankContext) -> Module:
    """Every block's attention core behind Ulysses' all-to-all; the model's positions start
    at this rank's slice."""
    from deepspeed.runtime.sequence_parallel import parallel_state_sp  # heavy: in the rank

    sp = run["sequence_parallel"]
    group = parallel_state_sp.get_sequence_parallel_group()
    return ctx.tools.sequence_parallel(model, group, first_position=(ctx.rank % sp)
                                       * (run.workload.seq_len // sp))


def _heads_divide(v: Values) -> bool:
    spec, sp = model_spec(v["model"]), v["sequence_parallel"]
    return spec.n_head % sp == 0 and spec.kv_heads % sp == 0


STRATEGY = Strategy(
    name="sequence-parallel",
    description="split each sample's sequence over ranks, attention by all-to-all over heads "
                "(DeepSpeed Ulysses)",
    axes=(Axis(name="sequence_parallel", type=int, default=1, minimum=1,
               help="ranks each sample's sequence is split over (1: off); world_size = data "
                    "parallel x tensor parallel x sequence_parallel"),),
    rules=(
        Rule(name="sequence-parallel-divides-world",
             reason="world_size must be a multiple of sequence_parallel (data parallel x "
                    "sequence parallel): set world_size to k x sequence_parallel",
             excludes=lambda v: v["world_size"] % v["sequence_parallel"] != 0),
        Rule(name="sequence-parallel-alone",
             reason="Ulysses' groups (parallel_state_sp) know no tensor-parallel ranks: set "
                    "tensor_parallel = 1 with sequence_parallel > 1",
             excludes=lambda v: v["sequence_parallel"] > 1 and v.get("tensor_parallel", 1) > 1),
        Rule(name="sequence-parallel-keeps-blocks",
             reason="pruning replaces the blocks whose attention Ulysses wraps: set pruning = "
                    "\"none\" with sequence_parallel > 1",
             excludes=lambda v: v["sequence_parallel"] > 1 and v.get("pruning", "none") != "none"),
        Rule(name="sequence-parallel-divides-heads",
             reason="the all-to-all hands each rank whole heads: heads and key/value heads must "
                    "divide by sequence_parallel",
             excludes=lambda v: v["sequence_parallel"] > 1 and not _heads_divide(v)),
        Rule(name="sequence-parallel-divides-seq-len",
             reason="each rank feeds an equal slice: seq_len must divide by sequence_parallel",
             excludes=lambda v: v["seq_len"] % v["sequence_parallel"] != 0),
    ),
    kinds=("train",),
    configure=configure,
    prepare=prepare,
    model_transform=transform,
    seq_splits=lambda v: v["sequence_parallel"],
    mpu=mpu,
)
