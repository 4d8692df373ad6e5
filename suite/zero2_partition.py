"""When ZeRO-2 makes a rank's gradient partition: the reduce bucket's fills in backward order.

DeepSpeed 0.19.8's ZeRO-2 (stage_1_and_2.py) hands each gradient, as backward produces it, to
the reduce bucket (reduce_bucket_size elements). When the next gradient would overflow the
bucket, the bucket is reduced and each of its gradients that overlaps this rank's partition is
copied into `grads_in_partition`, allocated at the first such copy with the elements of every
parameter overlapping the partition, whole (copy_grads_in_partition). A gradient larger than
the bucket skips it (extra_large_param_to_reduce): it waits as autograd made it and is reduced
alone when the next gradient arrives. The epilogue at backward's end reduces the last fill.
Backward produces the gradients in reverse module order, so the last rank's partition is made
at the first reduction, the first rank's at one of the last.
"""

from __future__ import annotations


def reductions(sizes: list[int], bucket: int) -> list[list[int]]:
    """The elements of each parameter of each reduction, in backward order (`sizes` in module
    order; a tied embedding's gradient comes last). A fill is reduced when the next gradient
    would overflow it; a gradient larger than the bucket is reduced alone. ZeRO-3's
    reduce-scatter batches fill alike (suite/zero3_gather.py)."""
    out: list[list[int]] = [[]]
    filled = 0  # elements in out[-1], kept as it grows (a sum per gradient was quadratic)
    for s in reversed(sizes):
        if out[-1] and filled + s > bucket:
            out.append([])
            filled = 0
        out[-1].append(s)
        filled += s
    return out


def first_reduction(sizes: list[int], bucket: int, *, lo: int, hi: int) -> int | None:
    """The index (in `reductions`) of the first reduction holding a gradient that overlaps the
    elements [lo, hi) of the flattened parameters (module order); None when none does."""
    return first_reductions(sizes, bucket, [(lo, hi)])[0]


def first_reductions(sizes: list[int], bucket: int, spans: list[tuple[int, int]]) \
        -> list[int | None]:
    """`first_reduction` of each (lo, hi) span, the reductions made once for them all."""
    bounds, end = [], sum(sizes)  # the elements [start, end) of each reduction
    for fill in reductions(sizes, bucket):
        start = end - sum(fill)
        bounds.append((start, end))
        end = start
    return [next((i for i, (start, end) in enumerate(bounds) if start < hi and end > lo), None)
            for lo, hi in spans]


def overlapping_elements(sizes: list[int], *, lo: int, hi: int) -> int:
    """Elements of the parameters that overlap [lo, hi): what grads_in_partition holds for a
    rank whose partition that is."""
    start, total = 0, 0
    for s in sizes:
        if start < hi and start + s > lo:
            total += s
        start += s
    return total
