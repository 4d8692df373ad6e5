"""How a scenario's ranks divide the work: world size = data parallel x model parallel.

The model-parallel strategies (suite/strategies/, their `splits` and `rank_share` hooks)
say how many ranks one model replica spans and what each rank holds; the memory model and
the rank read the sizes here, so ZeRO shards over the data-parallel ranks and each rank
holds its share of the parameters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from suite.models import ModelSpec
from suite.strategies import STRATEGIES


def model_parallel(values: Mapping[str, object]) -> int:
    """Ranks one model replica is split over (1: every rank holds a whole replica)."""
    return math.prod(s.splits(values) for s in STRATEGIES
                     if s.splits is not None and s.active(values))


def data_parallel_size(values: Mapping[str, object]) -> int:
    """Ranks that each hold a replica's share and see their own data (ZeRO shards over them)."""
    return int(values["world_size"]) // model_parallel(values)


def data_rank(values: Mapping[str, object], rank: int) -> int:
    """Which data-parallel replica `rank` works for: DeepSpeed groups consecutive ranks into
    one replica, whose ranks must see the same data."""
    return rank // model_parallel(values)


def rank_parameter_sizes(values: Mapping[str, object], spec: ModelSpec) -> list[int]:
    """The parameters one rank's module holds, in module order."""
    for s in STRATEGIES:
        if s.rank_share is not None and s.active(values):
            return s.rank_share(values, spec)
    return spec.parameter_sizes()
