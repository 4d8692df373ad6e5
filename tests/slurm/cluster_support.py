"""Helpers of the tests against the real single-node Slurm cluster (slurm/cluster/up.sh).

(A uniquely named module, not conftest.py: test folders without __init__.py share one
`conftest` module name.)
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from executor_support import REPO

from reliability.cluster import FORGETFUL, SINGLE, TWO_NODE, submitted_jobs
from reliability.cluster import job_ids as job_ids  # the tests' helper too

TOOLS = ("sbatch", "squeue", "scontrol", "scancel")


def require_cluster() -> None:
    """Fail, never skip, when the cluster is not up: `make test` brings it up first."""
    if problem := SINGLE.problem():
        pytest.fail(problem, pytrace=False)


# The two-node cluster (slurm/cluster/up.sh --nodes 2) runs beside the single-node one; its
# clients find it through SLURM_CONF, which memsweep passes on to the jobs it submits.
TWO_NODE_CONF = TWO_NODE.conf
TWO_NODE_RUN = TWO_NODE.run_dir


def require_two_nodes() -> dict[str, str]:
    """The environment of the two-node cluster's clients. Fails, never skips, unless both
    nodes n1 and n2 take jobs."""
    if problem := TWO_NODE.problem(nodes=("n1", "n2")):
        pytest.fail(problem, pytrace=False)
    return TWO_NODE.env


def require_forgetful() -> dict[str, str]:
    """The environment of the forgetful cluster's clients (up.sh --forgetful: MinJobAge=2, so
    Slurm forgets a job seconds after it ended). Fails, never skips, unless it is up."""
    if problem := FORGETFUL.problem():
        pytest.fail(problem, pytrace=False)
    return FORGETFUL.env


def forgotten(*job_ids: str, timeout_s: float = 60) -> None:
    """Wait until the forgetful cluster no longer knows any of `job_ids` (each ends in
    seconds; slurmctld purges ended jobs every 10 s)."""
    end = time.monotonic() + timeout_s
    while any(FORGETFUL.knows(j) for j in job_ids):
        assert time.monotonic() < end, f"the forgetful cluster still knows jobs {job_ids}"
        time.sleep(0.5)


def counting_path(folder: Path) -> tuple[str, Path]:
    """A PATH whose sbatch/squeue/scontrol/scancel log each call to a file, then run the real one.

    Jobs submitted with it inherit it (sbatch --export=ALL), so the report job's calls count too.
    """
    folder.mkdir(parents=True)
    log = folder / "calls.log"
    for tool in TOOLS:
        script = folder / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> {log}\nexec {shutil.which(tool)} "$@"\n')
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return f"{folder}{os.pathsep}{os.environ['PATH']}", log


def calls(log: Path) -> Counter[str]:
    """The calls that reach slurmctld, by tool. `scontrol listpids` (a task learning its
    ranks' pids, slurm/ranks.py) is answered by the node's slurmstepd, not counted."""
    lines = log.read_text().splitlines() if log.exists() else []
    return Counter(line.split()[0] for line in lines
                   if not line.startswith("scontrol listpids "))


def memsweep(*args: str, cwd: Path = REPO, env: dict | None = None,
             timeout_s: float = 120) -> subprocess.CompletedProcess:
    """The CLI as a user runs it (its own process, its own environment)."""
    return subprocess.run([sys.executable, "-m", "memsweep", *args], cwd=cwd,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout_s, check=False)


def wait_for_text(path: Path, text: str, timeout_s: float) -> None:
    end = time.monotonic() + timeout_s
    while not (path.exists() and text in path.read_text(errors="replace")):
        assert time.monotonic() < end, f"{text!r} never appeared in {path}"
        time.sleep(0.5)


def cancel_leftovers(out: Path, *, env: dict | None = None) -> None:
    """A failed test must not leave its jobs queued for the next one: every array and report
    job the folder's submissions made (one array per node count)."""
    ids = sorted(set(submitted_jobs(out)))
    if not ids:
        return
    subprocess.run([shutil.which("scancel"), *ids], capture_output=True, check=False, timeout=60,
                   env={**os.environ, **(env or {})})
