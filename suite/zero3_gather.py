"""What ZeRO-3 holds gathered, and what its collectives make on the side (DeepSpeed 0.19.8),
each measured on `base` at 2 ranks (jobs/peak_probe.py's per-storage breakdown, the
allocation site of each storage at the peak).

With parameters kept for reuse (stage3_max_reuse_distance and stage3_max_live_parameters at
their defaults, the model under 1e9 parameters): once the first step has recorded the trace,
the first module's fetch prefetches the rest of the trace in one coalesced all-gather
(partition_parameters.py `_all_gather_dtype`), whose flat buffer lives until the last
parameter it holds is used, near the forward's end (`coalesced_prefetch_elements`); the
whole model stays gathered until backward releases it, and at backward's end only the
first module's parameters are (the trace ends: nothing is kept for reuse).

With parameters on NVMe the offload strategy (suite/strategies/offload.py) sets
stage3_max_reuse_distance = 0: partitioned_param_coordinator.py `__params_to_release` then
releases a submodule's parameters as soon as it is done, except those a prefetch has
already fetched for a later use (`gathered_elements`):

* prefetch off (stage3_prefetch_bucket_size = 0, as the offload strategy sets it): one
  submodule's parameters at a time; the most at the end of backward, the embedding's
  (GPT: the tied token table, held by the root module, and the position table).
* prefetch on (bucket_sizes = "auto" sets it): each forward ends with the first uses of
  backward prefetched, walking the trace backwards from the tied head: every parameter met
  (those below stage3_param_persistence_threshold are persistent, a term of their own) up
  to and including the one that takes the last of offload_param.buffer_count swap buffers;
  a partition under the swapper's smallest I/O is not swapped and takes none.

A tied head multiplies the token table by its gathered data directly (not through
DeepSpeed's linear wrapper): autograd keeps that storage after the parameter is released,
and backward gathers the table again (`tied_regather_elements`). Either way backward ends
with the reduce-scatter of the last bucket (`reduce_scatter_elements`).
"""

from __future__ import annotations

import math

from suite.models import ModelSpec
from suite.zero2_partition import reductions

# Every `zero` below is suite.memory_model.zero_config's: the scenario's zero_optimization
# section over DeepSpeed's defaults, so each stage3_* key is there.


def gathered_elements(spec: ModelSpec, sizes: list[int], zero: dict, *, ranks: int,
                      width: int, smallest_swap: int) -> int:
    """Elements gathered at once (forward's end and backward) with parameters on NVMe."""
    if int(zero["stage3_prefetch_bucket_size"]) == 0:
        embedding = sizes[0] + (sizes[1] if spec.family == "gpt" else 0)
        return max(embedding, max(sizes))
    persistent = int(zero["stage3_param_persistence_threshold"])
    buffers = int(zero["offload_param"]["buffer_count"])
    order = ([sizes[0]] if spec.ties else []) + list(reversed(sizes))
    held = swapped = 0
    for s in order:
        if s < persistent:
            continue
        held += s
        swapped += math.ceil(s / ranks) * width >= smallest_swap
        if swapped == buffers:
            break
    return held


def tied_regather_elements(spec: ModelSpec) -> int:
    """The token table's second gathered copy at backward's start (tied head), else 0."""
    return spec.vocab_size * spec.d_model if spec.ties else 0


def coalesced_prefetch_elements(sizes: list[int], zero: dict) -> int:
    """The flat buffer of the coalesced all-gather the first fetch of a recorded trace
    prefetches, in elements: the parameters after the first (module order), persistent ones
    skipped, taken while fewer than min(stage3_prefetch_bucket_size,
    stage3_max_live_parameters) elements are taken; the buffer holds N partitions of each
    (their whole size, padded). One parameter alone is gathered without it."""
    persistent = int(zero["stage3_param_persistence_threshold"])
    limit = min(int(zero["stage3_prefetch_bucket_size"]),
                int(zero["stage3_max_live_parameters"]))
    batch: list[int] = []
    for s in sizes[1:]:
        if sum(batch) >= limit:
            break
        if s >= persistent:
            batch.append(s)
    return sum(batch) if len(batch) > 1 else 0


def reduce_scatter_elements(sizes: list[int], reduce_bucket_size: int, ranks: int, *,
                            gloo: bool = True) -> int:
    """The largest reduce-scatter's temporaries, in elements: backward hands the gradients
    to the reduce bucket in reverse order, and stage3.py flushes it before one that would
    overflow it (a gradient larger than the bucket goes alone). Its
    reduce_scatter_coalesced concatenates the batch, each gradient padded to a multiple of
    N (no copy for a single gradient N divides), and gloo's reduce_scatter_tensor copies that
    input once more (comm/torch.py)."""
    def temporaries(batch: list[int]) -> int:
        padded = sum(math.ceil(s / ranks) * ranks for s in batch)
        single = len(batch) == 1 and batch[0] % ranks == 0
        return padded * ((0 if single else 1) + (1 if gloo else 0))

    return max(temporaries(b) for b in reductions(sizes, reduce_bucket_size))
