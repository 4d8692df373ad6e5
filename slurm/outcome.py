"""The run's one record after its launch ended: the worker's, or one written from outside.

A worker that crashed, hung, was killed or never started writes no record. `settle`
then writes one from what the launcher saw (an `Ending`) and the log's tail; where a rank
died and a survivor recorded its own error, the dead rank comes first (slurm/rank_death.py). Nothing
here knows how the run was launched: the local executor builds its Ending from an exit
status, the Slurm reconciliation from a job state.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from jobs.fingerprint import fingerprint
from results.load import read_record
from results.schema import STATUSES, RunRecord, SchemaError, replace
from results.store import record_path, write_record

LOG_TAIL_LINES = 60
LOG_TAIL_MAX_BYTES = 16_000  # a line of progress bars can be megabytes
# Rank 0 stamps started_at on its own node's clock: a little skew is not staleness.
CLOCK_SKEW = timedelta(seconds=5)


@dataclass(frozen=True, kw_only=True)
class Ending:
    """How a launch ended, as seen from outside the worker."""

    status: str  # a record status other than ok
    reason: str
    # The reason names a rank that died first: a record of this attempt that a surviving
    # rank wrote (its own error, e.g. gloo's "Read ... pair.cc") is kept after it.
    dead_rank: bool = False

    def __post_init__(self) -> None:
        if self.status not in STATUSES or self.status == "ok":
            raise ValueError(f"an ending is one of {STATUSES[1:]}, not {self.status!r}")


def exit_ending(returncode: int) -> Ending:
    """From the launcher's exit status (Popen style: negative = killed by that signal)."""
    if returncode == 0:
        return Ending(status="failed", reason="the ranks exited 0 but wrote no record")
    if returncode < 0:
        return Ending(status="failed", reason=f"mpiexec was killed by {_signal_name(-returncode)}")
    reason = f"the ranks exited with code {returncode}"
    if returncode > 128:  # 128+S: a rank killed by signal S (a bare S under MPICH's hydra)
        reason += f" (128 + {_signal_name(returncode - 128)})"
    return Ending(status="failed", reason=reason)


def timeout_ending(timeout_s: float) -> Ending:
    return Ending(status="timeout", reason=f"still running after timeout_s = {timeout_s:g} s, "
                                           f"stopped; raise timeout_s in the sweep's [sweep] "
                                           f"table if the scenario needs longer")


def cancelled_ending(signum: int) -> Ending:
    return Ending(status="cancelled", reason=f"the sweep was interrupted ({_signal_name(signum)})"
                                             f" while this run was going; it was stopped")


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def previous_record(root: Path, run_id: str) -> RunRecord | None:
    """The record a run has from an earlier attempt, if it has a valid one."""
    try:
        return read_record(record_path(root, run_id))  # the loader's rules: a file the
    except (OSError, ValueError):  # report quarantines is no record to continue from either
        return None


def next_attempt(previous: RunRecord | None) -> int:
    """Attempts count launches of a run_id; the last attempt's record is the one kept."""
    return previous.attempt + 1 if previous else 1


def read_log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str | None:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - LOG_TAIL_MAX_BYTES))
            data = f.read()
    except OSError:
        return None
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:]) or None


def launcher_fingerprint() -> dict:
    # device="cpu": the launcher must not open a CUDA context on the GPU the ranks measure.
    return {**fingerprint(device="cpu"), "recorded_by": "launcher"}


def launcher_record(*, scenario: dict, attempt: int, ending: Ending, started: datetime,
                    finished: datetime, log: Path | None,
                    fingerprint: dict | None = None) -> RunRecord:
    """The record of a run whose worker wrote none (or that never started: `skipped`).

    `fingerprint` adds to (or corrects) what this process knows of where the run was, e.g.
    the Slurm ids of the task when the record is written later, from another job.
    """
    return RunRecord(run_id=scenario["run_id"], attempt=attempt, status=ending.status,
                     sweep=scenario["sweep"], scenario=scenario, started_at=started.isoformat(),
                     finished_at=finished.isoformat(),
                     duration_s=max(0.0, (finished - started).total_seconds()),
                     fingerprint={**launcher_fingerprint(), **(fingerprint or {})},
                     reason=ending.reason,
                     log_tail=read_log_tail(log) if log else None,
                     log_path=str(log) if log else None)


def settle(root: Path, *, scenario: dict, attempt: int, launched: datetime, ending: Ending,
           log: Path | None, finished: datetime | None = None) -> RunRecord:
    """The run's one record: the one its worker wrote for this attempt, else one from `ending`.

    A record of an earlier attempt, or started before this launch, is stale and replaced.
    """
    path = record_path(root, scenario["run_id"])
    problem = None
    try:
        record = read_record(path)
        if record.attempt == attempt and started_time(record) >= launched - CLOCK_SKEW:
            if not (ending.dead_rank and record.status == "failed"):
                return record
            # a survivor's error (the peer vanished) after what happened first
            record = replace(record, status=ending.status,
                             reason=f"{ending.reason}; then {record.reason}",
                             log_path=record.log_path or (str(log) if log else None),
                             log_tail=record.log_tail or (read_log_tail(log) if log else None))
            write_record(root, record)
            return record
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as e:  # SchemaError and JSONDecodeError are ValueErrors
        problem = f"; its record was not valid ({str(e)[:200]})"
    if problem:
        ending = Ending(status=ending.status, reason=ending.reason + problem)
    record = launcher_record(scenario=scenario, attempt=attempt, ending=ending, started=launched,
                             finished=finished or datetime.now(timezone.utc), log=log)
    write_record(root, record)
    return record


def started_time(record: RunRecord) -> datetime:
    try:
        started = datetime.fromisoformat(record.started_at)
    except ValueError:
        raise SchemaError(f"started_at {record.started_at!r} is not an ISO 8601 time") from None
    return started if started.tzinfo else started.replace(tzinfo=timezone.utc)
