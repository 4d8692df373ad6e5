"""The CPU cores this process may run on: its affinity (what Slurm or taskset gave it), not
the machine's count."""

from __future__ import annotations

import os


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
