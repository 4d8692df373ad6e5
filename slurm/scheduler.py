"""The one place that calls Slurm's client tools (sbatch, squeue, sinfo, scontrol, scancel).

Every call gets a clean environment: a submission from inside an allocation (the
nightly scrontab job, the report job) would otherwise hand its own SLURM_* / SBATCH_*
settings (job id, partition, array, time limit ...) to the new job or the query.
`CALLS` counts the calls per tool; a sweep takes one sbatch call per node count plus one
(the report job), and one squeue per poll.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from slurm.nodes import NodeRow, parse_sinfo
from slurm.states import JobRow, parse_squeue
from suite.errors import EnvironmentProblem

CALLS: Counter[str] = Counter()
TIMEOUT_S = 120  # a loaded slurmctld answers in seconds; MessageTimeout is 10 s by default
KEEP = ("SLURM_CONF",)  # where the site's slurm.conf is: the tools need it
_STRIP = ("SLURM_", "SBATCH_", "SALLOC_", "SRUN_", "SQUEUE_")
_JOB_ID = re.compile(r"\d+")
FIELDS = ("JobID", "ArrayJobID", "ArrayTaskID", "State", "exit_code", "StartTime", "EndTime",
          "NodeList", "Reason")  # parsed by slurm.states.parse_squeue, in this order
UP_FIX = "on this machine bring the test cluster up with `sudo bash slurm/cluster/up.sh` " \
         "(make test does); on a cluster, run on a login node or load the Slurm module"


def clean_env(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` without the variables an enclosing allocation sets for Slurm's tools."""
    return {k: v for k, v in environ.items() if k in KEEP or not k.startswith(_STRIP)}


def run(tool: str, args: Sequence[str], *, environ: Mapping[str, str] = os.environ,
        ok_errors: tuple[str, ...] = ()) -> str:
    """`tool args` with a clean environment; its stdout. Raises EnvironmentProblem on failure,
    unless stderr holds one of `ok_errors` (then the output is empty)."""
    env = clean_env(environ)
    path = shutil.which(tool, path=env.get("PATH"))
    if path is None:
        raise EnvironmentProblem(f"{tool} not found on PATH: Slurm's client tools are missing\n"
                                 f"  fix: {UP_FIX}")
    CALLS[tool] += 1
    try:
        done = subprocess.run([path, *args], env=env, capture_output=True, text=True,
                              timeout=TIMEOUT_S, stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        raise EnvironmentProblem(f"{tool} did not answer within {TIMEOUT_S} s\n"
                                 f"  fix: check that slurmctld is up (`sinfo`); {UP_FIX}") from None
    if done.returncode != 0:
        if any(text in done.stderr for text in ok_errors):
            return ""
        raise EnvironmentProblem(f"{tool} failed (exit {done.returncode}): "
                                 f"{done.stderr.strip() or done.stdout.strip()}\n"
                                 f"  fix: check the options it names (--partition, --account, "
                                 f"--qos, --time, --mem, on the command line or in the profile; "
                                 f"`sinfo` lists partitions) and that Slurm is up (`sinfo`)")
    return done.stdout


def sbatch(script: str, *, dependency: str | None = None,
           environ: Mapping[str, str] = os.environ) -> str:
    """Submit `script`; its job id (for an array, the array's id)."""
    args = ["--parsable", *([f"--dependency={dependency}"] if dependency else []), script]
    out = run("sbatch", args, environ=environ).strip()
    job_id = out.split(";")[0]  # --parsable prints "ID" or "ID;CLUSTER"
    if not _JOB_ID.fullmatch(job_id):
        raise EnvironmentProblem(f"sbatch printed {out!r}, not a job id\n  fix: {UP_FIX}")
    return job_id


def jobs(job_ids: Iterable[str], *, environ: Mapping[str, str] = os.environ) -> list[JobRow]:
    """Every array task and job of `job_ids`, pending to ended, in ONE squeue call.

    Jobs Slurm no longer knows (ended more than MinJobAge ago) are simply absent.
    """
    ids = sorted({i for i in job_ids if i}, key=int)
    for i in ids:
        if not _JOB_ID.fullmatch(i):
            raise ValueError(f"not a Slurm job id: {i!r}")
    if not ids:
        return []
    out = run("squeue", ["--noheader", "--states=all", "--array", f"--jobs={','.join(ids)}",
                         "--Format=" + ",".join(f"{f}:|" for f in FIELDS)],
              environ=environ, ok_errors=("Invalid job id specified",))  # none known any more
    return parse_squeue(out)


def nodes(nodelist: str, *, environ: Mapping[str, str] = os.environ) -> list[NodeRow]:
    """The state and reason of each node of `nodelist` ("n[1-2]"), in ONE sinfo call."""
    if not nodelist or any(c.isspace() or c in "|'\"" for c in nodelist):
        raise ValueError(f"not a Slurm node list: {nodelist!r}")
    out = run("sinfo", ["--noheader", "--Node", f"--nodes={nodelist}",
                        "--Format=NodeList:|,StateComplete:|,Reason:|"], environ=environ)
    return parse_sinfo(out)
