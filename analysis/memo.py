"""Reuse of a comparison's table while one report is made.

The report calls `vs_baseline`, `largest_fitting`, `pareto_table`, ... on the same
frame from several sections (a figure, its table, the findings). Inside
`with reuse():` a function decorated `@per_frame` computes once per frame object
and keyword arguments; outside it, every call computes. An entry keeps its frame
alive, so a frame's id cannot be reused by another frame while the entry exists.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from contextvars import ContextVar

_CACHE: ContextVar[dict | None] = ContextVar("analysis_memo", default=None)


@contextlib.contextmanager
def reuse() -> Iterator[None]:
    token = _CACHE.set({})
    try:
        yield
    finally:
        _CACHE.reset(token)


def per_frame(func: Callable) -> Callable:
    """Cache `func(frame, **kwargs)` by the frame's identity inside `reuse()`."""

    @functools.wraps(func)
    def wrapper(frame, **kwargs):
        cache = _CACHE.get()
        if cache is None:
            return func(frame, **kwargs)
        key = (func.__qualname__, id(frame), tuple(sorted(kwargs.items())))
        hit = cache.get(key)
        if hit is not None and hit[0] is frame:
            return hit[1]
        result = func(frame, **kwargs)
        cache[key] = (frame, result)
        return result
    return wrapper
