"""`parallel_runs`: the real runs the parallelism tests share (parallel_sweeps.py)."""

from __future__ import annotations

import time

import parallel_sweeps
import pytest

from slurm import shm


@pytest.fixture(scope="session")
def parallel_runs(tmp_path_factory) -> dict:
    """{"pp" | "sp" | "tp": the folder of that sweep's records}: two MPI launches in all.
    They start mpiexec themselves, not through memsweep's launcher: what aborted ranks leave
    in /dev/shm is removed here, as the launcher does after each run (slurm/shm.py)."""
    since = time.time()
    try:
        return parallel_sweeps.run(tmp_path_factory.mktemp("parallel-runs"))
    finally:
        shm.remove_leftovers(since - shm.CLOCK_SLACK_S)
