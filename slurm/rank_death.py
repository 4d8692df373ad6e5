"""The ending of a run whose rank died: which rank, where, its pid, its signal or exit code
first, then the launcher's words; `oom` only with evidence that points at this run.

Evidence of an out-of-memory kill is one of: the kernel's log naming one of this run's rank
pids (slurm/kernel_log.py), or the Slurm step's own report of an OOM kill in its cgroup
(srun's "task N: Out Of Memory", slurmstepd's "Detected N oom-kill event(s)"). A SIGKILL
without it is `failed`: on a shared machine the OOM killer ending someone else's process,
or a user's `kill -9`, says nothing about this scenario's memory.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from slurm.outcome import Ending
from slurm.ranks import RankProcess
from slurm.step_log import StepLog, TaskEnd

# MPICH's hydra: "YOUR APPLICATION TERMINATED WITH THE EXIT STRING: Killed (signal 9)"
_EXIT_STRING = re.compile(r"EXIT STRING: [^\n]*\(signal (\d+)\)")
_SRUN_SIGNALS = {"Killed": signal.SIGKILL, "Terminated": signal.SIGTERM,
                 "Interrupt": signal.SIGINT, "Aborted": signal.SIGABRT,
                 "Segmentation fault": signal.SIGSEGV}


@dataclass(frozen=True, kw_only=True)
class Seen:
    """What the attempt saw of its ranks while it waited (slurm/attempt.py)."""

    first_dead: tuple[RankProcess, ...] = ()  # ended together, before the others
    ranks: tuple[RankProcess, ...] = ()  # every rank process found
    signals: Mapping[int, int] = field(default_factory=dict)  # pid -> signal, where seen
    all_found: bool = True  # every rank was known when the first ended (else one not yet
    # found may have died before those seen: first_dead then names no one for certain)
    oom_kills: Mapping[int, str] = field(default_factory=dict)  # the kernel's, since launch
    kernel_problem: str | None = None  # why the kernel's log could not be read


@dataclass(frozen=True, kw_only=True)
class How:
    """How a rank ended, as its launcher reported it."""

    signum: int = 0
    code: int = 0
    rank: int | None = None  # srun names the rank (its task number) and host
    host: str | None = None

    def __str__(self) -> str:
        if self.signum:
            return f"killed by {_signal_name(self.signum)}"
        return f"exited with code {self.code}"


def from_mpiexec(returncode: int, log_tail: str | None) -> How | None:
    """How the first rank ended, from mpiexec's exit status and its report in the log; None
    when mpiexec itself was killed or all went well."""
    if returncode <= 0:
        return None
    if found := _EXIT_STRING.search(log_tail or ""):
        return How(signum=int(found.group(1)))
    if returncode > 128:  # 128+S, as a shell reports a death by signal S
        return How(signum=returncode - 128)
    return How(code=returncode)


def from_srun(step: StepLog, *, first: int | None = None,
              watched: frozenset[int] = frozenset()) -> How | None:
    """How the task that died first ended, from srun's lines about the step's tasks
    (slurm/step_log.py). srun prints them as each node's report arrives, in no order of death
    (once one task ended badly it ends the others, --kill-on-bad-exit, and may report those
    first), so the line is chosen by evidence, strongest first:

    - not a rank killed by a signal after it said it failed (a survivor that caught gloo's
      error, then was ended with the step: it was alive after the fault; a rank killed by the
      fault says nothing, and one that failed by itself exits with a code);
    - rank `first`, the one the watch saw end before the others, where the watch saw every
      rank srun names (`watched`: on one node of several it sees only that node's ranks);
    - printed before srun began ending the step itself;
    - srun's first line."""
    if not step.ends:
        return None
    named = {e.rank for e in step.ends if e.rank is not None}
    trusted = first if first is not None and named <= watched else None

    def weaker(at: int) -> tuple:  # less evidence that this line's task died first: greater
        end = step.ends[at]
        return (end.rank in step.caught and bool(_how(end).signum),
                trusted is None or end.rank != trusted, end.after_kill, at)

    found = step.ends[min(range(len(step.ends)), key=weaker)]
    how = _how(found)
    return how if how.signum or how.code else None


def _how(end: TaskEnd) -> How:
    if code := re.match(r"Exited with exit code (\d+)", end.what):
        return How(code=int(code.group(1)), rank=end.rank, host=end.host)
    signum = _SRUN_SIGNALS.get(end.what, signal.SIGKILL if end.what == "Out Of Memory" else 0)
    return How(signum=signum, rank=end.rank, host=end.host)


def dead_rank_ending(seen: Seen, *, how: How | None, said: str,
                     step_oom: str | None = None) -> Ending | None:
    """The ending that names the rank killed by a signal first; None when no rank was.

    `said` is the launcher's own account (kept after the rank); `step_oom` the Slurm step's
    report of an OOM kill in its cgroup, if it made one. A rank that exits with an error code
    is not named here: under MPI_Abort the first process to end is not the one that failed,
    and its own traceback in the log says more."""
    if how is None or not how.signum:
        return None
    # The kernel names the rank it killed: that one, whatever the watch saw end first (an OOM
    # victim frees its memory before it exits, and the launcher may reap another one first).
    killed = [r for r in (*seen.first_dead, *seen.ranks) if r.pid in seen.oom_kills]
    if killed and how.rank is None:
        seen = replace(seen, first_dead=(killed[0],))
    what = _who(seen, how)
    evidence = step_oom or _kernel_evidence(seen)
    if evidence:
        return Ending(status="oom", dead_rank=True,
                      reason=f"{what}: out of memory, the kernel's OOM killer ended it "
                             f"(evidence: {evidence}); {said}")
    if how.signum == signal.SIGKILL:
        why = seen.kernel_problem or "the kernel logged no OOM kill of this run's ranks"
        what += f" (not counted as out of memory: {why})"
    return Ending(status="failed", dead_rank=True, reason=f"{what}; {said}")


def _who(seen: Seen, how: How) -> str:
    """"rank R (pid P) killed by SIGKILL on host H", from what the watch and launcher saw."""
    if how.rank is not None:  # srun names the rank that ended first
        named = [r for r in (*seen.first_dead, *seen.ranks) if r.rank == how.rank]
        if named:
            return f"{named[0].name()} {how} on host {named[0].host}"
        return f"rank {how.rank} {how} on host {how.host}"
    first = _not_cleaned_up(seen, how.signum)
    if not first:
        return f"a rank {how}"
    if not seen.all_found:
        return f"a rank {how} on host {first[0].host} (which one is not known: it ended " \
               f"before every rank was found; the first of those found to end: " \
               f"{' or '.join(r.name() for r in first)})"
    together = " (they ended together)" if len(first) > 1 else ""
    return f"{' or '.join(r.name() for r in first)} {how} on host {first[0].host}{together}"


def _not_cleaned_up(seen: Seen, signum: int) -> tuple[RankProcess, ...]:
    """The ranks that ended first, less those the watch saw end by another signal than the
    launcher reports for the first death (the launcher's clean-up: hydra SIGKILLs the
    others); where that leaves none, the one other rank it did not see end so."""
    other = {r.pid for r in seen.ranks if seen.signals.get(r.pid, signum) != signum}
    kept = tuple(r for r in seen.first_dead if r.pid not in other)
    rest = [r for r in seen.ranks if r.pid not in other]
    return kept or (tuple(rest) if len(rest) == 1 and other else seen.first_dead)


def _kernel_evidence(seen: Seen) -> str | None:
    mine = [r for r in (*seen.first_dead, *seen.ranks) if r.pid in seen.oom_kills]
    if not mine:
        return None
    return f"the kernel's log (/dev/kmsg) for pid {mine[0].pid}: \"{seen.oom_kills[mine[0].pid]}\""


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
