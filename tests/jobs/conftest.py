"""Tests here start `mpiexec ... jobs.worker` themselves, not through memsweep's launcher, so
nothing removes what their aborted or killed ranks leave in /dev/shm (slurm/shm.py): do it
here after each module, as the launcher does after each run. `ledger_runs`: the real runs
test_prediction.py and test_llama_ledger.py share (ledger_batches.py)."""

from __future__ import annotations

import time

import ledger_batches
import pytest

from slurm import shm


@pytest.fixture(autouse=True, scope="module")
def _no_shared_memory_left_behind():
    since = time.time()
    yield
    shm.remove_leftovers(since - shm.CLOCK_SLACK_S)


@pytest.fixture(scope="session")
def ledger_runs(tmp_path_factory) -> dict:
    """Made once for both modules: two MPI launches, not four (ledger_batches.py)."""
    since = time.time()
    try:
        return ledger_batches.run(tmp_path_factory.mktemp("ledger-runs"))
    finally:  # the module's autouse clean-up may come before these runs began
        shm.remove_leftovers(since - shm.CLOCK_SLACK_S)
