"""How a scenario's ranks divide the work: world size = data parallel x model parallel
x sequence parallel.

The model-parallel strategies (suite/strategies/, their `splits` and `rank_share` hooks)
say how many ranks one model replica spans and what each rank holds; the sequence-parallel
ones (`seq_splits`) how many ranks split one sample's sequence, each holding a whole replica.
The memory model and the rank read the sizes here, so ZeRO shards over the ranks that hold
the same parameters, each rank holds its share of them and feeds its slice of the sequence.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from suite.models import ModelSpec
from suite.strategies import STRATEGIES
from suite.strategy_spec import LayerShare


def model_parallel(values: Mapping[str, object]) -> int:
    """Ranks one model replica is split over (1: every rank holds a whole replica)."""
    return math.prod(s.splits(values) for s in STRATEGIES
                     if s.splits is not None and s.active(values))


def sequence_parallel(values: Mapping[str, object]) -> int:
    """Ranks one sample's sequence is split over (1: every rank sees whole samples)."""
    return math.prod(s.seq_splits(values) for s in STRATEGIES
                     if s.seq_splits is not None and s.active(values))


def data_parallel_size(values: Mapping[str, object]) -> int:
    """Ranks (or groups of ranks) that see their own samples: distinct samples per step."""
    return int(values["world_size"]) // (model_parallel(values) * sequence_parallel(values))


def shard_ranks(values: Mapping[str, object]) -> int:
    """Ranks ZeRO shards a replica's share over: those holding the same parameters (data and
    sequence parallel: DeepSpeed's sequence-data-parallel group)."""
    return int(values["world_size"]) // model_parallel(values)


def shard_rank(values: Mapping[str, object], rank: int) -> int:
    """`rank`'s place among the ranks ZeRO shards over (those holding the same parameters: a
    replica's ranks are consecutive)."""
    return rank // model_parallel(values)


def data_rank(values: Mapping[str, object], rank: int) -> int:
    """Which data-parallel replica `rank` works for: DeepSpeed groups consecutive ranks into
    one replica (and one sequence group), whose ranks must see the same samples."""
    return rank // (model_parallel(values) * sequence_parallel(values))


def sequence_slice(values: Mapping[str, object], rank: int) -> tuple[int, int]:
    """The positions [start, stop) of each sample's sequence that `rank` feeds: a sequence
    group is consecutive ranks (parallel_state_sp), the sequence cut in equal slices."""
    sp, seq = sequence_parallel(values), int(values["seq_len"])
    part = seq // sp
    start = (rank % sp) * part
    return start, start + part


def rank_seq_len(values: Mapping[str, object]) -> int:
    """Positions of each sample one rank computes activations for."""
    return int(values["seq_len"]) // sequence_parallel(values)


def rank_parameter_sizes(values: Mapping[str, object], spec: ModelSpec,
                         rank: int = 0) -> list[int]:
    """The parameters global rank `rank`'s module holds, in module order."""
    for s in STRATEGIES:
        if s.rank_share is not None and s.active(values):
            return s.rank_share(values, spec, rank)
    return spec.parameter_sizes()


def rank_layers(values: Mapping[str, object], spec: ModelSpec, rank: int = 0) -> LayerShare:
    """The layers global rank `rank` runs (its activations): all of them unless a strategy cuts
    the model into stages."""
    for s in STRATEGIES:
        if s.layer_share is not None and s.active(values):
            return s.layer_share(values, spec, rank)
    return LayerShare(blocks=spec.n_layer)


def shares_differ(values: Mapping[str, object], spec: ModelSpec) -> bool:
    """Whether a replica's ranks hold different parameters (pipeline stages do)."""
    mp = model_parallel(values)
    return len({tuple(rank_parameter_sizes(values, spec, r)) for r in range(mp)}) > 1
