"""Python's cycle collector paused for a stretch of work that makes many long-lived objects.

Each full collection walks every object alive; while a folder of records is decoded, or a
report's figures are built, those are the very objects just made, walked again and again.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """The cycle collector off for the block, and back as it was after (the cycles made
    meanwhile are collected by its next run)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
