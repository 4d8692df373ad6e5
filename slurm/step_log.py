"""What a job step's whole log says about how its tasks ended (slurm/task.py reads it).

    srun: error: n2: task 1: Killed                          srun's line per task, in order
    srun: launch/slurm: _step_signal: Terminating StepId=…   srun ends the step itself (once a
                                                              task ended badly: --kill-on-bad-exit)
    slurmstepd: error: Detected 1 oom-kill event(s) …        the step's cgroup OOM kill
    worker: rank 0 failed:                                   a rank caught an error of its own

srun prints its task lines as each node's report arrives, which is not the order of death
across nodes; a rank that said it failed was still alive after the fault (a survivor that
caught gloo's error), and a task line printed after srun began ending the step is srun's own
doing. The whole log is read, not its tail: a survivor's traceback (~100 lines) pushes srun's
first line out of the last 60.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_TASK = re.compile(r"srun: error: ([^:\s]+): (tasks? ([\d,-]+)): (.+)")
_TERMINATING = "_step_signal: Terminating"
_SAID_FAILED = re.compile(r"worker: rank (\d+) failed:")
_OOM = re.compile(r"task \S+: Out Of Memory|oom-kill event|oom_kill event")
_PREFIXES = (b"srun:", b"slurmstepd", b"worker: rank ")
LINE_MAX = 4096  # a rank's progress bar can be megabytes: only a line's start is read


@dataclass(frozen=True, kw_only=True)
class TaskEnd:
    """One of srun's lines on how a task (or several) ended."""

    host: str  # the node, as Slurm names it
    tasks: str  # "task 1", "tasks 0-1"
    what: str  # "Killed", "Terminated", "Exited with exit code 3", "Out Of Memory"
    after_kill: bool = False  # printed after srun began ending the step itself

    @property
    def rank(self) -> int | None:
        """The one rank the line names (None for "tasks 0-1")."""
        number = self.tasks.split()[-1]
        return int(number) if self.tasks.startswith("task ") and number.isdigit() else None

    def words(self) -> str:
        return f"{self.tasks}: {self.what} (on {self.host})"


@dataclass(frozen=True, kw_only=True)
class StepLog:
    ends: tuple[TaskEnd, ...] = ()
    caught: frozenset[int] = frozenset()  # ranks that said they failed (were alive to say it)
    oom: str | None = None  # the first line reporting the step's cgroup OOM kill


def parse_step_log(lines) -> StepLog:
    ends, caught, oom, killing = [], set(), None, False
    for line in lines:
        line = line.strip()
        if found := _TASK.match(line):
            ends.append(TaskEnd(host=found.group(1), tasks=found.group(2),
                                what=found.group(4).strip(), after_kill=killing))
        elif _TERMINATING in line and line.startswith("srun:"):
            killing = True
        elif said := _SAID_FAILED.match(line):
            caught.add(int(said.group(1)))
        if oom is None and not line.startswith("worker:") and _OOM.search(line):
            oom = line
    return StepLog(ends=tuple(ends), caught=frozenset(caught), oom=oom)


def read_step_log(path: Path) -> StepLog:
    """The step's log as above; an empty StepLog where it cannot be read."""
    try:
        with open(path, "rb") as f:
            return parse_step_log(line[:LINE_MAX].decode("utf-8", "replace")
                                  for line in _lines(f) if line.startswith(_PREFIXES))
    except OSError:
        return StepLog()


def _lines(f):
    """The file's lines, each cut to LINE_MAX bytes (the rest of a long line skipped)."""
    while line := f.readline(LINE_MAX):
        if not line.endswith(b"\n"):
            while (rest := f.readline(LINE_MAX)) and not rest.endswith(b"\n"):
                pass
        yield line
