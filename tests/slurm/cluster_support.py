"""Helpers of the tests against the real single-node Slurm cluster (slurm/cluster/up.sh).

(A uniquely named module, not conftest.py: test folders without __init__.py share one
`conftest` module name.)
"""

from __future__ import annotations

import json
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

TOOLS = ("sbatch", "squeue", "scontrol", "scancel")
UP = "run `sudo bash slurm/cluster/up.sh` (or `make cluster-up`; `make test` does it)"


def require_cluster() -> None:
    """Fail, never skip, when the cluster is not up: `make test` brings it up first."""
    sinfo = shutil.which("sinfo")
    if sinfo is None or any(shutil.which(t) is None for t in TOOLS):
        pytest.fail(f"Slurm's client tools are not installed here: {UP}", pytrace=False)
    done = subprocess.run([sinfo, "-h", "-o", "%T"], capture_output=True, text=True,
                          timeout=60, check=False)
    states = [s.rstrip("*~#") for s in done.stdout.split()]
    if done.returncode != 0 or not set(states) & {"idle", "mixed", "allocated", "completing"}:
        said = done.stdout.strip() or done.stderr.strip()
        pytest.fail(f"the Slurm cluster is not up (sinfo: {said}): {UP}", pytrace=False)


# The two-node cluster (slurm/cluster/up.sh --nodes 2) runs beside the single-node one; its
# clients find it through SLURM_CONF, which memsweep passes on to the jobs it submits.
TWO_NODE_CONF = "/etc/slurm/two-node/slurm.conf"
TWO_NODE_RUN = Path("/run/slurm/two-node")
UP_TWO = "run `sudo bash slurm/cluster/up.sh --nodes 2` (or `make cluster-up`; `make test` does it)"


def require_two_nodes() -> dict[str, str]:
    """The environment of the two-node cluster's clients. Fails, never skips, unless both
    nodes n1 and n2 take jobs."""
    env = {**os.environ, "SLURM_CONF": TWO_NODE_CONF}
    sinfo = shutil.which("sinfo")
    if sinfo is None or not Path(TWO_NODE_CONF).exists():
        pytest.fail(f"the two-node Slurm cluster is not set up here: {UP_TWO}", pytrace=False)
    end = time.monotonic() + 30  # a node just resumed is "idle*" until slurmctld pings it
    while True:
        done = subprocess.run([sinfo, "-h", "-N", "-o", "%N %T"], capture_output=True,
                              text=True, env=env, timeout=60, check=False)
        states = dict(line.split() for line in done.stdout.splitlines() if line.strip())
        usable = {n for n, s in states.items() if s in ("idle", "mixed", "allocated",
                                                         "completing")}
        if (done.returncode == 0 and {"n1", "n2"} <= usable) or time.monotonic() > end:
            break
        time.sleep(1)
    if done.returncode != 0 or not {"n1", "n2"} <= usable:
        said = done.stdout.strip() or done.stderr.strip()
        pytest.fail(f"the two-node Slurm cluster is not up (sinfo: {said}): {UP_TWO}",
                    pytrace=False)
    return {"SLURM_CONF": TWO_NODE_CONF}


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


def job_ids(out: Path) -> dict:
    """The last submission of out/slurm.json."""
    return json.loads((out / "slurm.json").read_text())["submissions"][-1]


def wait_for_text(path: Path, text: str, timeout_s: float) -> None:
    end = time.monotonic() + timeout_s
    while not (path.exists() and text in path.read_text(errors="replace")):
        assert time.monotonic() < end, f"{text!r} never appeared in {path}"
        time.sleep(0.5)


def cancel_leftovers(out: Path, *, env: dict | None = None) -> None:
    """A failed test must not leave its jobs queued for the next one: every array and report
    job the folder's submissions made (one array per node count)."""
    try:
        subs = json.loads((out / "slurm.json").read_text())["submissions"]
    except (OSError, ValueError, KeyError):
        return
    ids = sorted({i for s in subs for i in (s["array_job_id"], s.get("report_job_id")) if i})
    subprocess.run([shutil.which("scancel"), *ids], capture_output=True, check=False, timeout=60,
                   env={**os.environ, **(env or {})})
