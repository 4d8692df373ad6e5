"""The ledger: bytes of parameters, gradients, fp32 master weights and optimizer states held.

`count` turns tensors sorted into those four categories into exact byte totals.
Tensors are counted by the memory they occupy, not by their size: views of one
flat buffer (DeepSpeed's flat parameter and gradient groups) add up to the part
of the buffer they cover, never twice, and a storage reached from two
categories counts once, for the first in `CATEGORIES` order (a parameter is a
parameter even where an optimizer also holds it). Which tensors DeepSpeed holds
in which category is `jobs/held.py`'s job.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, fields

CATEGORIES = ("params", "master_params", "grads", "optimizer_state")


@dataclass(frozen=True, kw_only=True)
class Ledger:
    params_bytes: int = 0
    grads_bytes: int = 0
    master_params_bytes: int = 0
    optimizer_state_bytes: int = 0

    def max(self, other: Ledger) -> Ledger:
        """Per category the larger of the two (snapshots taken at different points of a step)."""
        return Ledger(**{f.name: max(getattr(self, f.name), getattr(other, f.name))
                         for f in fields(self)})


def count(tensors: dict[str, Iterable]) -> Ledger:
    """Bytes per category of the storages under `tensors` ({category: tensors})."""
    owner: dict[tuple, str] = {}  # storage -> the category that claimed it first
    spans: dict[tuple, list[tuple[int, int]]] = {}
    for category in CATEGORIES:
        for t in tensors.get(category, ()):
            span = _span(t)
            if span is None:
                continue
            key, lo, hi = span
            owner.setdefault(key, category)
            spans.setdefault(key, []).append((lo, hi))
    totals = dict.fromkeys(CATEGORIES, 0)
    for key, intervals in spans.items():
        totals[owner[key]] += _union_length(intervals)
    return Ledger(**{f"{c}_bytes": n for c, n in totals.items()})


def _span(t) -> tuple[tuple, int, int] | None:
    """(storage key, first byte, end byte) of the memory `t` covers in its storage."""
    if t is None or t.numel() == 0 or t.device.type == "meta":
        return None  # ZeRO-3 frees a partitioned parameter's data to an empty tensor
    storage = t.untyped_storage()
    if storage.nbytes() == 0:
        return None
    item = t.element_size()
    # Extent of a strided view: its last element's offset + 1 (DeepSpeed's views are contiguous
    # narrows and reshapes; a transposed view still covers the same block).
    extent = 1 + sum((n - 1) * abs(s) for n, s in zip(t.shape, t.stride(), strict=True))
    lo = t.storage_offset() * item
    hi = min(lo + extent * item, storage.nbytes())
    return (t.device.type, t.device.index, storage.data_ptr()), lo, hi


def _union_length(intervals: list[tuple[int, int]]) -> int:
    total, end = 0, -math.inf
    for lo, hi in sorted(intervals):
        if hi > end:
            total += hi - max(lo, end)
            end = hi
    return int(total)
