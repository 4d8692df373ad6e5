"""Slurm job states as squeue reports them, and what an ended job means for a run without a
record (pure: no Slurm needed).

A scheduler state never means success: only the worker's record can say `ok`. A job that
ended without a record of its run gets one from its state (see `ending_for`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from slurm.outcome import Ending

# States after which a job never runs again (squeue -t all, until MinJobAge).
TERMINAL = {
    "COMPLETED": "failed", "FAILED": "failed", "SPECIAL_EXIT": "failed",
    "CANCELLED": "cancelled", "PREEMPTED": "cancelled", "REVOKED": "cancelled",
    "TIMEOUT": "timeout", "DEADLINE": "timeout",
    "OUT_OF_MEMORY": "oom",
    "NODE_FAIL": "node_fail", "BOOT_FAIL": "node_fail",
}
_WHY = {
    "COMPLETED": "ended COMPLETED but its run wrote no record",
    "FAILED": "FAILED before its run wrote a record",
    "SPECIAL_EXIT": "ended in SPECIAL_EXIT before its run wrote a record",
    "CANCELLED": "was CANCELLED (scancel, or an administrator) before its run wrote a record",
    "PREEMPTED": "was PREEMPTED by a higher-priority job before its run wrote a record; "
                 "submit with --resume to run it again",
    "REVOKED": "was REVOKED (it ran on another cluster) before its run wrote a record",
    "TIMEOUT": "reached its time limit before its run wrote a record: raise --time "
               "(or the profile's time)",
    "DEADLINE": "reached its --deadline before its run wrote a record",
    "OUT_OF_MEMORY": "ran OUT_OF_MEMORY (over its --mem) before its run wrote a record: "
                     "raise --mem (or the profile's mem) if the run itself did not cause it",
    "NODE_FAIL": "ended in NODE_FAIL (its node went down) before its run wrote a record",
    "BOOT_FAIL": "ended in BOOT_FAIL (its node did not boot) before its run wrote a record",
}


@dataclass(frozen=True, kw_only=True)
class JobRow:
    """One line of squeue: a job, or one task of an array (pending tasks share the array's id)."""

    job_id: str
    array_job_id: str
    array_task_id: int | None  # None: not an array task
    state: str
    exit_status: int | None  # the raw wait status Slurm keeps (exit << 8 | signal)
    start: datetime | None
    end: datetime | None
    reason: str
    nodes: str = ""  # the job's node list ("n[1-2]"), "" while pending

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    @property
    def name(self) -> str:
        """123_4 for an array task, 123 for a job: what scancel and the logs call it."""
        return self.job_id if self.array_task_id is None \
            else f"{self.array_job_id}_{self.array_task_id}"

    @property
    def exit_code(self) -> str | None:
        """EXIT:SIGNAL, as scontrol and sacct print it (0:15 = killed by SIGTERM)."""
        if self.exit_status is None:
            return None
        return f"{(self.exit_status >> 8) & 0xFF}:{self.exit_status & 0x7F}"


def parse_squeue(text: str) -> list[JobRow]:
    """Lines of `squeue --Format=JobID:|,ArrayJobID:|,ArrayTaskID:|,State:|,exit_code:|,
    StartTime:|,EndTime:|,NodeList:|,Reason:|` (see slurm/scheduler.py)."""
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.rstrip("|").split("|", 8)
        if len(parts) != 9:
            raise ValueError(f"unexpected squeue line {line!r}")
        job_id, array_id, task, state, status, start, end, nodes, reason = \
            (p.strip() for p in parts)
        rows.append(JobRow(job_id=job_id, array_job_id=array_id or job_id,
                           array_task_id=int(task) if task.isdigit() else None,
                           state=state.split()[0] if state else "UNKNOWN",
                           exit_status=int(status) if status.isdigit() else None,
                           start=_time(start), end=_time(end), reason=reason, nodes=nodes))
    return rows


def ending_for(row: JobRow) -> Ending:
    """The ending of a run whose job `row` ended (terminal) without its record."""
    if not row.terminal:
        raise ValueError(f"job {row.name} is {row.state}, not ended")
    detail = ", ".join(x for x in (f"exit {row.exit_code}" if row.exit_code else None,
                                   row.reason if row.reason not in ("", "None") else None) if x)
    return Ending(status=TERMINAL[row.state],
                  reason=f"Slurm job {row.name} {_WHY[row.state]}"
                         + (f" ({detail})" if detail else ""))


def vanished_ending(job: str) -> Ending:
    return Ending(status="missing",
                  reason=f"Slurm no longer knows job {job} (it ended more than MinJobAge ago, "
                         f"or the controller lost it) and its run left no record; submit with "
                         f"--resume to run it again")


def _time(text: str) -> datetime | None:
    """squeue's local time (2026-11-25T19:57:38) as an aware datetime; None for N/A, Unknown."""
    try:
        return datetime.fromisoformat(text).astimezone()
    except ValueError:
        return None
