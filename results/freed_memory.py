"""Large blocks straight from the OS while a big frame is built, so that what is freed goes
back at once (glibc's malloc, which numpy and, here, Arrow allocate with).

glibc serves an allocation below its mmap threshold from its heap, and raises the threshold
(up to 32 MiB) each time a larger block is freed. Building a frame of a million rows (the
folders' small tables joined into batches, the batches converted a column at a time) frees
blocks in an order that leaves holes the next, larger, blocks do not fit: a million-row
load peaked at 2.2 GiB RSS, 0.8 GiB of it freed but kept. With the threshold fixed at 256
KiB, blocks of that size and more are mapped and unmapped: 1.7 GiB.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Iterator
from contextlib import contextmanager

_M_MMAP_THRESHOLD = -3  # mallopt's parameter (malloc.h)
_WHILE_BUILDING = 256 * 1024
# glibc's own threshold once it has adapted (its DEFAULT_MMAP_THRESHOLD_MAX on 64 bits): once
# set, the threshold no longer adapts, and this is where it would have gone
_AFTER = 32 * 1024 * 1024


def _mallopt():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return None


_MALLOPT = _mallopt()


@contextmanager
def large_blocks_mapped() -> Iterator[None]:
    """Inside: blocks of 256 KiB and more are mapped from the OS, and unmapped when freed."""
    if _MALLOPT is None:
        yield
        return
    _MALLOPT(_M_MMAP_THRESHOLD, _WHILE_BUILDING)
    try:
        yield
    finally:
        _MALLOPT(_M_MMAP_THRESHOLD, _AFTER)
