"""Per-run figures from the items of many runs at once: the largest value per run, the first
item holding it. The frame is built a column at a time (results/frame.py): a value per item
gathered in one pass, the maximum per run taken by numpy, not by a Python loop per record."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

_LOW = np.iinfo(np.int64).min


def owners(sizes: Sequence[int]) -> np.ndarray:
    """For items listed run after run, `sizes[i]` of run i: the run of each item."""
    return np.repeat(np.arange(len(sizes)), np.asarray(sizes, dtype=np.int64))


def most(owner: np.ndarray, values: list | pa.Array, runs: int,
         keep: np.ndarray | None = None) -> pa.Array:
    """Per run, the largest of its items' values that are not None (null where it has none),
    as int64; `keep` masks the items considered. Items are listed run after run."""
    filled, valid = _ints(values, keep)
    largest, has = _largest(owner, filled, valid, runs)
    return pa.array(largest, pa.int64(), mask=~has)


def first_largest(owner: np.ndarray, values: list, runs: int) -> np.ndarray:
    """Per run, the index of its first item with the largest value not None, -1 where none
    (as Python's max(..., key=) picks)."""
    filled, valid = _ints(values, None)
    largest, _ = _largest(owner, filled, valid, runs)
    top = filled == largest[owner]
    at = np.flatnonzero(top if valid is None else valid & top)
    out = np.full(runs, -1, dtype=np.int64)
    run, first = np.unique(owner[at], return_index=True)  # items are in run order
    out[run] = at[first]
    return out


def _ints(values: list | pa.Array, keep: np.ndarray | None) \
        -> tuple[np.ndarray, np.ndarray | None]:
    """The values as int64 (0 for None) and which are not None and kept (None: all)."""
    arr = values if isinstance(values, pa.Array) else pa.array(values, pa.int64())
    valid = None if arr.null_count == 0 else arr.is_valid().to_numpy(zero_copy_only=False)
    if keep is not None:
        valid = keep if valid is None else valid & keep
    return arr.fill_null(0).to_numpy(), valid


def _largest(owner: np.ndarray, values: np.ndarray, valid: np.ndarray | None,
             runs: int) -> tuple[np.ndarray, np.ndarray]:
    """The largest valid value per run (any where it has none) and whether it has one."""
    if valid is not None:
        owner, values = owner[valid], values[valid]
    largest = np.full(runs, _LOW, dtype=np.int64)
    has = np.zeros(runs, dtype=bool)
    if len(owner):
        # a run's items are side by side: the maximum of each stretch, in one call
        starts = np.flatnonzero(np.concatenate(([True], owner[1:] != owner[:-1])))
        largest[owner[starts]] = np.maximum.reduceat(values, starts)
        has[owner[starts]] = True
    return largest, has
