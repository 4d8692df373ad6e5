"""Rendering a sweep's sbatch scripts (its job arrays, its report job): pure functions whose
keyword arguments are the schema.

Every value that reaches an `#SBATCH` line is validated first (a newline or a
space there would add a directive); every value in the shell body is quoted.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from suite.errors import UserInputError
from suite.names import check_name
from suite.plan import PLAN_FILE

_TIME = re.compile(r"(\d+-)?\d{1,3}(:\d{2}){0,2}|\d+")  # Slurm's time formats
_MEM = re.compile(r"\d+[KMGT]?")
_PATH = re.compile(r"/[A-Za-z0-9._/+@,=-]*")  # absolute, nothing a shell or sbatch reads specially


def check_time(value: str, *, key: str = "time") -> str:
    if not isinstance(value, str) or not _TIME.fullmatch(value):
        raise UserInputError(f"{value!r} is not a Slurm time limit", key=key,
                             fix="write minutes (90), HH:MM:SS (01:30:00) or D-HH:MM:SS")
    return value


def check_mem(value: str, *, key: str = "mem") -> str:
    if not isinstance(value, str) or not _MEM.fullmatch(value):
        raise UserInputError(f"{value!r} is not a Slurm memory size", key=key,
                             fix="write e.g. 4G, 500M or 16000 (MB)")
    return value


def check_path(value: str, *, key: str) -> str:
    if not isinstance(value, str) or not _PATH.fullmatch(value) or "/../" in f"{value}/":
        raise UserInputError(f"{value!r} cannot go into a batch script", key=key,
                             fix="use an absolute path of letters, digits and ._/+@,=- only")
    return value


def array_spec(indices: Sequence[int], max_parallel: int | None) -> str:
    """Slurm's --array value: runs of consecutive indices as ranges, then the %K throttle.

    (0..13) -> "0-13"; (3, 5, 9) with K=2 -> "3,5,9%2"; (1, 2, 3, 7) -> "1-3,7".
    """
    wanted = sorted(set(indices))
    if not wanted or wanted[0] < 0 or any(type(i) is not int for i in wanted):
        raise ValueError(f"array indices must be non-negative integers, got {indices!r}")
    if max_parallel is not None and max_parallel < 1:
        raise ValueError(f"max_parallel must be 1 or more, got {max_parallel}")
    runs: list[list[int]] = []
    for i in wanted:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    text = ",".join(f"{a}-{b}" if b > a else f"{a}" for a, b in runs)
    return text + (f"%{max_parallel}" if max_parallel else "")


TASKS = ("slurm.task", "slurm.search_task")


def _directives(**options: object) -> list[str]:
    return [f"#SBATCH --{k.replace('_', '-')}={v}" for k, v in options.items() if v is not None]


def render_array_script(*, sweep: str, n_tasks: int, max_parallel: int | None, ntasks: int,
                        nodes: int, cpus_per_task: int, gpus_per_node: int, mem: str | None,
                        time: str, partition: str | None, account: str | None, qos: str | None,
                        out_dir: str, python: str, mpi: str, signal_lead_s: int = 120,
                        indices: Sequence[int] | None = None, task: str = "slurm.task") -> str:
    """A job array: task i runs scenario i of out_dir/plan.json, with room for `ntasks` ranks
    on `nodes` nodes (a sweep's runs go into one array per node count: slurm/node_shapes.py).

    `indices` are the plan positions to run (a resume); default all `n_tasks` of them.
    `task` is the module each task runs: slurm.task (one run), or slurm.search_task (a
    capacity search of combination i, each probe a job step).
    The task gets SIGUSR1 `signal_lead_s` before its time limit, to record `timeout` itself.
    """
    check_name(sweep, what="sweep name")
    for key, value in (("partition", partition), ("account", account), ("qos", qos)):
        if value is not None:
            check_name(value, what=key)
    check_name(mpi, what="mpi")
    if task not in TASKS:
        raise ValueError(f"task {task!r} is not one of {TASKS}")
    if n_tasks < 1 or ntasks < 1 or nodes < 1 or cpus_per_task < 1 or gpus_per_node < 0:
        raise ValueError("task, node, cpu and gpu counts must be positive")
    if type(signal_lead_s) is not int or signal_lead_s < 1:
        raise ValueError(f"signal_lead_s must be a positive integer, got {signal_lead_s!r}")
    indices = range(n_tasks) if indices is None else indices
    if max(indices, default=0) >= n_tasks:
        raise ValueError(f"array indices {indices!r} go beyond the plan's {n_tasks} scenarios")
    lines = ["#!/bin/bash",
             f"# memsweep: sweep {sweep}, {n_tasks} scenarios; this job array runs those "
             f"that take {nodes} node{'s' if nodes > 1 else ''}.",
             "# Task i runs scenario i of plan.json; resubmit with: memsweep submit --resume",
             *_directives(job_name=f"memsweep-{sweep}", array=array_spec(indices, max_parallel),
                          nodes=nodes, ntasks=ntasks, cpus_per_task=cpus_per_task,
                          gres=f"gpu:{gpus_per_node}" if gpus_per_node else None,
                          mem=mem and check_mem(mem), time=check_time(time),
                          partition=partition, account=account, qos=qos,
                          output=f"{check_path(out_dir, key='out')}/logs/slurm-%A_%a.out",
                          signal=f"B:USR1@{signal_lead_s}"),
             "set -euo pipefail",
             f"export MEMSWEEP_MPI={shlex.quote(mpi)}",
             "exec " + shlex.join([check_path(python, key="python"), "-m", task,
                                   "--plan", f"{out_dir}/{PLAN_FILE}", "--out", out_dir])
             + ' --index "$SLURM_ARRAY_TASK_ID"',
             ""]
    return "\n".join(lines)


def render_report_script(*, sweep: str, time: str, partition: str | None, account: str | None,
                         qos: str | None, out_dir: str, python: str,
                         mem: str | None = None) -> str:
    """The report job (submitted with --dependency=afterany): reconcile, then the PDF."""
    check_name(sweep, what="sweep name")
    for key, value in (("partition", partition), ("account", account), ("qos", qos)):
        if value is not None:
            check_name(value, what=key)
    out = check_path(out_dir, key="out")
    py = check_path(python, key="python")
    lines = ["#!/bin/bash",
             f"# memsweep: report for sweep {sweep}; runs after every array task has ended.",
             *_directives(job_name=f"memsweep-{sweep}-report", ntasks=1,
                          mem=mem and check_mem(mem), time=check_time(time),
                          partition=partition, account=account, qos=qos,
                          output=f"{out}/logs/slurm-report-%j.out"),
             "set -uo pipefail",
             "# Every planned run gets its record first, even tasks Slurm killed or never ran.",
             shlex.join([py, "-m", "memsweep", "status", out, "--reconcile"]),
             "exec " + shlex.join([py, "-m", "memsweep", "report", out,
                                   "-o", f"{out}/report.pdf"]),
             ""]
    return "\n".join(lines)
