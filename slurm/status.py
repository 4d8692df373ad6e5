"""`memsweep status DIR`: each planned run's Slurm state and record, from ONE squeue call.

With `reconcile`, every run whose job has ended (or that Slurm no longer knows) and that
has no record of its submission's attempt gets one now, from the job's state, exit code
and log tail (slurm/states.py): every planned run ends with exactly one record. A job's
state never makes a run `ok`; only the worker's record does.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from results.schema import RunRecord
from results.search_outcome import FINISHED, SearchOutcome, load_outcomes
from results.store import log_path, logs_dir, write_record
from slurm import outcome, scheduler, submissions
from slurm.nodes import node_failure
from slurm.searching import search_id, summary_line
from slurm.states import JobRow, ending_for, vanished_ending
from slurm.submissions import Submission
from suite.errors import EnvironmentProblem
from suite.scenario import Scenario
from suite.scenario_name import scenario_name

FINE = ("ok", "skipped")  # any other record makes `status` exit 1
# A task COMPLETING (ended, its processes being cleaned up, e.g. still writing its record
# within KillWait) is waited for this long before reconciling; afterany may start the report
# job meanwhile.
COMPLETING_WAIT_S, COMPLETING_POLL_S = 60.0, 5.0


@dataclass(frozen=True, kw_only=True)
class Row:
    index: int
    scenario: Scenario
    owner: Submission | None  # the latest submission that ran it (None: never submitted)
    job: JobRow | None  # None: not submitted, or Slurm no longer knows the job
    record: RunRecord | None  # the record of the owner's attempt (None: none yet)

    @property
    def settled(self) -> bool:
        """Nothing about this run will change by itself any more."""
        return self.record is not None or self.owner is None or \
            self.job is None or self.job.terminal


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    sweep: str
    folder: Path
    rows: tuple[Row, ...]
    submissions: tuple[Submission, ...]
    report: JobRow | None
    # A searched sweep: per row (combination), its search outcome so far (None: not started).
    # Its tasks' records are their probes'; the outcome is what a row says.
    searches: tuple[SearchOutcome | None, ...] | None = None

    @property
    def done(self) -> bool:
        """Every run settled and the report job (if any) ended."""
        last = self.submissions[-1] if self.submissions else None
        report_pending = last is not None and last.report_job_id is not None and \
            self.report is not None and not self.report.terminal
        return all(r.settled for r in self.rows) and not report_pending

    @property
    def exit_code(self) -> int:
        if self.searches is not None:
            return 1 if any(o is None or o.status not in FINISHED for o in self.searches) else 0
        return 1 if any(r.record and r.record.status not in FINE for r in self.rows) else 0


def poll(folder: Path, *, reconcile: bool) -> Snapshot:
    """One look at the sweep in `folder`: at most one scheduler call, whatever its size."""
    folder = Path(folder).absolute()
    name, scenarios, plan = submissions.load_plan(folder)
    search = plan.search
    subs = submissions.load(folder)
    owners = submissions.owners(subs)
    report_id = subs[-1].report_job_id if subs else None
    found = scheduler.jobs({s.array_job_id for s in owners.values()} | {report_id or ""})
    tasks = {(j.array_job_id, j.array_task_id): j for j in found if j.array_task_id is not None}
    report = next((j for j in found if j.job_id == report_id), None)
    rows = []
    for index, scenario in enumerate(scenarios):
        sub = owners.get(index)
        job = tasks.get((sub.array_job_id, index)) if sub else None
        record = None if search else outcome.previous_record(folder, scenario.run_id)
        if sub and record and not is_current(record, sub, index):
            record = None  # from an earlier attempt: this submission has not spoken yet
        if reconcile and not search and sub and record is None and \
                (job is None or job.terminal):
            record = settle_from_slurm(folder, scenario=scenario, sub=sub, index=index, job=job)
        rows.append(Row(index=index, scenario=scenario, owner=sub, job=job, record=record))
    searches = None
    if search:
        known = {o.search_id: o for o in load_outcomes(folder)}
        searches = tuple(known.get(search_id(search, s)) for s in scenarios)
    return Snapshot(sweep=name, folder=folder, rows=tuple(rows), submissions=tuple(subs),
                    report=report, searches=searches)


def is_current(record: RunRecord, sub: Submission, index: int) -> bool:
    """Whether `record` speaks for the run `sub` submitted (a requeue may count further)."""
    try:
        started = outcome.started_time(record)
    except ValueError:
        return False
    return record.attempt >= sub.attempt_of(index) and \
        started >= sub.submitted - outcome.CLOCK_SKEW


def settle_from_slurm(folder: Path, *, scenario: Scenario, sub: Submission, index: int,
                      job: JobRow | None) -> RunRecord:
    """The record of a run whose job ended, or vanished, without one."""
    ending = ending_for(job) if job else vanished_ending(sub.task(index))
    if job and job.state in ("NODE_FAIL", "BOOT_FAIL") and job.nodes:
        ending = which_node(ending, job.nodes)
    attempt = sub.attempt_of(index)
    where = {"recorded_by": "reconcile", "slurm_array_job_id": sub.array_job_id,
             "slurm_array_task_id": str(index), "slurm_job_id": job.job_id if job else None}
    if job and job.nodes:
        where["nodelist"] = job.nodes
    if partition := sub.settings.get("profile", {}).get("partition"):
        where["partition"] = partition
    record = outcome.launcher_record(
        scenario=scenario.to_json(), attempt=attempt, ending=ending,
        started=(job and job.start) or sub.submitted,
        finished=(job and job.end) or datetime.now(timezone.utc),
        log=_log_of(folder, scenario.run_id, attempt=attempt, task=sub.task(index)),
        fingerprint=where)
    write_record(folder, record)
    return record


def which_node(ending: outcome.Ending, nodelist: str) -> outcome.Ending:
    """A node failure's ending led by the failed node(s) of `nodelist`, where Slurm still has
    them down (one sinfo call; a node already back is not named)."""
    try:
        failure = node_failure(scheduler.nodes(nodelist))
    except (EnvironmentProblem, ValueError):  # no answer: the job's state still says NODE_FAIL
        return ending
    if failure is None:
        return ending
    return outcome.Ending(status=ending.status, reason=f"{failure}; {ending.reason}")


def _log_of(folder: Path, run_id: str, *, attempt: int, task: str) -> Path | None:
    """The ranks' log if this attempt wrote it, else the task's Slurm output (if it started)."""
    ranks = log_path(folder, run_id)
    try:
        with open(ranks, encoding="utf-8", errors="replace") as f:
            if f.readline().startswith(f"# memsweep: attempt {attempt},"):
                return ranks
    except OSError:
        pass
    task_out = logs_dir(folder) / f"slurm-{task}.out"
    return task_out if task_out.exists() else None


def render(snap: Snapshot) -> str:
    """The scenario -> state table, one line per planned run, and a count by state."""
    arrays = submissions.latest(list(snap.submissions))
    last = arrays[-1] if arrays else None
    head = f"sweep {snap.sweep} in {snap.folder}: {len(snap.rows)} runs"
    if len(arrays) == 1:
        head += f"; array job {last.array_job_id}"
    elif arrays:  # one per node count
        head += "; array jobs " + ", ".join(
            s.array_job_id + (f" ({s.nodes} node{'s' if s.nodes > 1 else ''})" if s.nodes else "")
            for s in arrays)
    if last and last.report_job_id:
        state = snap.report.state if snap.report else "unknown to Slurm"
        head += f", report job {last.report_job_id} {state}"
    reps = any(r.scenario.repetition for r in snap.rows)
    table = [["index", "run_id", "scenario", "task", "slurm", "record", "attempt", "reason"]]
    counts: Counter[str] = Counter()
    for r in snap.rows:
        slurm = r.job.state if r.job else ("not submitted" if r.owner is None else "unknown")
        shown = r.record.status if r.record else "-"
        counts[r.record.status if r.record else slurm.lower()] += 1
        reason = ((r.record and r.record.reason) or _waiting(r.job)).split("\n")[0]
        table.append([str(r.index), r.scenario.run_id,
                      scenario_name(r.scenario.values,
                                    repetition=r.scenario.repetition if reps else None),
                      r.owner.task(r.index) if r.owner else "-", slurm, shown,
                      str(r.record.attempt) if r.record else "-",
                      reason[:90] + ("..." if len(reason) > 90 else "")])
    widths = [max(len(row[c]) for row in table) for c in range(len(table[0]) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1]
             for row in table]
    summary = ", ".join(f"{n} {s}" for s, n in counts.most_common())
    report = snap.folder / "report.pdf"
    searched = []
    if snap.searches is not None:  # the rows are combinations: what each search found so far
        searched = ["searches:"] + [
            summary_line(o) if o else f"  combination {r.index}: not started"
            for r, o in zip(snap.rows, snap.searches, strict=True)]
    return "\n".join([head, *(x.rstrip() for x in lines), f"{len(snap.rows)} runs: {summary}",
                      *searched] + ([f"report: {report}"] if report.exists() else []))


def status(folder: Path, *, reconcile: bool = False, watch: bool = False,
           interval_s: float = 30.0) -> int:
    """Print the table (again every interval_s with `watch`, until all ended); 0 when no run
    ended without ok, else 1."""
    while True:
        snap = poll(folder, reconcile=reconcile)
        waited = 0.0
        while reconcile and _completing(snap) and waited < COMPLETING_WAIT_S:
            # Ended, but its processes are still going away: its record may still come.
            time.sleep(COMPLETING_POLL_S)
            waited += COMPLETING_POLL_S
            snap = poll(folder, reconcile=reconcile)
        if watch and sys.stdout.isatty():
            sys.stdout.write("\033[H\033[J")  # redraw in place
        stamp = datetime.now().astimezone().strftime("%H:%M:%S")
        print((f"[{stamp}] " if watch else "") + render(snap), flush=True)
        if not watch or snap.done:
            return snap.exit_code
        time.sleep(interval_s)


def _waiting(job: JobRow | None) -> str:
    """Why Slurm holds a pending task back ("Resources", "ReqNodeNotAvail, UnavailableNodes:n2")."""
    if job is None or job.state != "PENDING" or job.reason in ("", "None"):
        return ""
    return f"pending: {job.reason}"


def _completing(snap: Snapshot) -> bool:
    return any(r.record is None and r.job is not None and r.job.state == "COMPLETING"
               for r in snap.rows)
