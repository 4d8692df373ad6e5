"""Tests here start `mpiexec ... jobs.worker` themselves, not through memsweep's launcher, so
nothing removes what their aborted or killed ranks leave in /dev/shm (slurm/shm.py): do it
here after each module, as the launcher does after each run."""

from __future__ import annotations

import time

import pytest

from slurm import shm


@pytest.fixture(autouse=True, scope="module")
def _no_shared_memory_left_behind():
    since = time.time()
    yield
    shm.remove_leftovers(since - shm.CLOCK_SLACK_S)
