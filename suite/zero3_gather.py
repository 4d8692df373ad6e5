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

With parameters in RAM and stage3_max_reuse_distance under the model (stage3_live =
"block", suite/strategies/zero.py; or a deepspeed_base) no closed form holds: on a GPT,
released_gathered_elements replays the coordinator's rules on the module trace
(gpt_step_events), checked against DeepSpeed event by event.

A tied head multiplies the token table by its gathered data directly (not through
DeepSpeed's linear wrapper): autograd keeps that storage after the parameter is released,
and backward gathers the table again (`tied_regather_elements`). Either way backward ends
with the reduce-scatter of the last bucket (`reduce_scatter_elements`).
"""

from __future__ import annotations

import bisect
import functools
import itertools
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
    return max(_scatter_temporaries(b, ranks, gloo) for b in reductions(sizes, reduce_bucket_size))


def _scatter_temporaries(batch: list[int], ranks: int, gloo: bool) -> int:
    padded = sum(math.ceil(s / ranks) * ranks for s in batch)
    single = len(batch) == 1 and batch[0] % ranks == 0
    return padded * ((0 if single else 1) + (1 if gloo else 0))


def tied_backward_end_elements(sizes: list[int], reduce_bucket_size: int, ranks: int, *,
                               gloo: bool = True) -> int:
    """The most temporaries in elements from backward's reductions to its end with a tied
    token table (sizes[0]) whose gathered parameters are released after use: the head's
    gradient of the table, made first, lives through every earlier reduction; the lookup's
    comes last and autograd sums the two (three tables); the sum, when larger than the
    bucket, is reduced alone as it is (itself and gloo's copy), else copied into the bucket
    (the batch's temporaries only)."""
    table, batches = sizes[0], reductions(sizes, reduce_bucket_size)
    earlier = [_scatter_temporaries(b, ranks, gloo) + table for b in batches[:-1]]
    last = _scatter_temporaries(batches[-1], ranks, gloo) \
        + (table if len(batches[-1]) == 1 else 0)
    return max(3 * table, last, *earlier)


def gpt_step_events(n_layer: int, ties: bool) -> list[tuple[str, int, tuple[int, ...]]]:
    """One training step's ZeRO-3 hook events on suite/gpt.py's GPT, in order: ("fetch" or
    "release", module id, the indexes of its parameters in parameter_sizes()). The root
    holds the tied token table (the head multiplies by it outside its module) from its fetch
    to its release; a Block and the attention core hold none but their fetches prefetch like
    any other. Backward visits the modules in reverse."""
    root = (0,) if ties else ()
    blocks = []
    for b in range(n_layer):
        p, m = 2 + 12 * b, 10 * b  # its first parameter; module ids 10 per block
        blocks.append([(100 + m, ()), (101 + m, (p, p + 1)), (102 + m, (p + 2, p + 3)),
                       (103 + m, ()), (104 + m, (p + 4, p + 5)), (105 + m, (p + 6, p + 7)),
                       (106 + m, (p + 8, p + 9)), (107 + m, (p + 10, p + 11))])
    last = 2 + 12 * n_layer
    ln_f = (1, (last, last + 1))

    def leaf(mod):
        return [("fetch", *mod), ("release", *mod)]

    forward = [("fetch", 0, root), *leaf((2, (0,))), *leaf((3, (1,)))]
    for block in blocks:  # the container first, released after its last child
        forward += [("fetch", *block[0]), *(e for mod in block[1:] for e in leaf(mod)),
                    ("release", *block[0])]
    forward += [*leaf(ln_f), ("release", 0, root)]
    backward = [("fetch", 0, root), *leaf(ln_f)]
    for block in reversed(blocks):  # out, fc, ln2, proj, core, qkv, ln1
        order = [block[i] for i in (7, 6, 5, 4, 3, 2, 1)]
        backward += [("fetch", *block[0]), *(e for mod in order for e in leaf(mod)),
                     ("release", *block[0])]
    # The embeddings' and the root's inputs are token ids: no gradient reaches them, so their
    # backward release never fires (backward_epilogue's release_backward_leftovers frees
    # them after backward).
    backward += [("fetch", 3, (1,)), ("fetch", 2, (0,))]
    return forward + backward


def released_gathered_elements(sizes: list[int], zero: dict, *, n_layer: int, ties: bool,
                               ranks: int) -> dict[str, int]:
    """Gathered elements at the step's points when ZeRO-3 releases what it will not reuse
    soon (stage3_max_reuse_distance under the model): partitioned_param_coordinator.py's
    rules replayed on the recorded trace (gpt_step_events), from nothing gathered (backward
    leaves the embeddings, released after it):

    * a fetch gathers its module's parameters, then prefetches from the trace's queue of
      parameter uses, skipping those already gathered, until the not-gathered elements
      taken reach min(stage3_max_live_parameters - gathered since the forward began,
      stage3_prefetch_bucket_size), at least one when that is positive; each use passed
      marks its parameter fetched for that use;
    * a release frees a module's parameters unless another module still holding it (the
      root, for the tied table) is active, the prefetch has marked it for a later use, or
      the modules within stage3_max_reuse_distance elements ahead (counted over every
      parameter, persistent ones too) use it again;
    * a prefetch of several parameters is one coalesced all-gather into one flat buffer (N
      partitions of each), which lives until the last of them is fetched for use; the
      first of them fetched gives every one its own copy (AllGatherCoalescedHandle.wait
      splits them all). A parameter gathered alone is a view of its own buffer (padded to
      a multiple of N).

    Parameters under stage3_param_persistence_threshold are never released and not
    counted. Returns the elements held at "forward" (the forward's end, the head's logits
    made), "bwd_start" (the root's backward fetch), "bwd_end" (the last module's), and
    "regather": the tied table's when the root's forward release freed it (backward gathers
    it again while autograd keeps the forward's copy), else 0."""
    limits = tuple(int(zero[k]) for k in ("stage3_param_persistence_threshold",
                                          "stage3_max_live_parameters",
                                          "stage3_prefetch_bucket_size",
                                          "stage3_max_reuse_distance"))
    return dict(_replay(tuple(sizes), limits, n_layer, ties, ranks))


@functools.lru_cache(maxsize=256)  # a plan or capacity search asks again for each rank
def _replay(sizes: tuple[int, ...], limits: tuple[int, ...], n_layer: int, ties: bool,
            ranks: int) -> tuple[tuple[str, int], ...]:
    persistent, live, bucket, reuse = limits
    events = gpt_step_events(n_layer, ties)
    fetches = [params for kind, _, params in events if kind == "fetch"]
    partitioned = {i for i, s in enumerate(sizes) if s >= persistent}
    queue = [(p, k) for k, params in enumerate(fetches) for p in sorted(params)]
    gathered: set[int] = set()
    alone: set[int] = set()  # gathered by an all-gather of their own
    inflight: dict[int, int] = {}  # prefetched with others, not yet used -> its flat buffer
    buffers: list[int] = []  # elements of each coalesced all-gather's flat buffer
    split: set[int] = set()  # the all-gathers whose parameters have their own copies
    fetched_for: dict[int, int] = {}
    holders: dict[int, set[int]] = {}
    out: dict[str, int] = {}
    head = step = available = 0

    ahead = list(itertools.accumulate((sum(sizes[p] for p in f) for f in fetches), initial=0))
    uses: dict[int, list[int]] = {}
    for k, params in enumerate(fetches):
        for p in params:
            uses.setdefault(p, []).append(k)

    def reused(p: int, step: int) -> bool:
        """Whether a module the release's look-ahead reaches uses `p`: it walks the trace from
        `step` until it has passed stage3_max_reuse_distance elements."""
        later = uses[p][bisect.bisect_left(uses[p], step):]
        return bool(later) and ahead[later[0]] - ahead[step] < reuse

    def padded(p: int) -> int:
        return math.ceil(sizes[p] / ranks) * ranks

    def gather(params: list[int]) -> int:
        new = [p for p in dict.fromkeys(params) if p in partitioned and p not in gathered]
        gathered.update(new)
        if len(new) == 1:
            alone.update(new)
        if len(new) > 1:
            inflight.update(dict.fromkeys(new, len(buffers)))
            buffers.append(sum(map(padded, new)))
        return sum(sizes[p] for p in new)

    def held() -> int:
        copies = {p for p in gathered if p not in inflight or inflight[p] in split}
        own = sum(padded(p) if p in alone else sizes[p] for p in copies)
        return own + sum(buffers[b] for b in set(inflight.values()))

    for kind, module, params in events:
        if kind == "fetch":
            available += gather(list(params))
            for p in params:  # waited for: copies made, its use of the flat buffer done
                if p in inflight:
                    split.add(inflight.pop(p))
            for _ in [p for p in set(params) if fetched_for.get(p, -1) < step]:
                p, k = queue[head]  # this use's entries leave the queue
                fetched_for[p], head = k, head + 1
            budget, chosen, taken = min(live - available, bucket), [], 0
            while head < len(queue) and taken < budget:
                p, k = queue[head]
                head += 1
                if p in partitioned and p not in gathered and p not in chosen:
                    chosen.append(p)
                    taken += sizes[p]
                fetched_for[p] = max(fetched_for.get(p, -1), k)
            available += gather(chosen)
            for p in params:
                holders.setdefault(p, set()).add(module)
            step += 1
            if module == 0 and step > 1:
                out["bwd_start"] = held()
            continue
        if module == 0:  # the root's forward release: the head's logits are made
            out["forward"] = held()
        for p in params:
            holders[p].discard(module)
            if p in gathered and not holders[p] and not reused(p, step) \
                    and fetched_for.get(p, -1) <= step:
                gathered.discard(p)
                alone.discard(p)
                available -= sizes[p]
        if module == 0:
            out["regather"] = sizes[0] if ties and 0 not in gathered else 0
    out["bwd_end"] = held()
    return tuple(out.items())
