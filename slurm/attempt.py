"""One attempt of one run, the same for the local executor (slurm/local.py, mpiexec) and a
Slurm array task (slurm/task.py, srun): start the launch into the run's log, wait for it
within the run's timeout_s and the caught signals, stop it in order when either comes first,
settle the run's one record (slurm/outcome.py), and remove what killed ranks left in
/dev/shm (slurm/shm.py).

What differs between the two is a `Launcher`: how its rank processes are found, how they
are stopped, what a caught signal means, and how an exit status reads. While the launch
runs, the attempt watches its ranks (slurm/ranks.py: which one ended first) and the kernel's
log (slurm/kernel_log.py: whether the OOM killer ended one of them), so that the ending can
name the dead rank first and call it `oom` only with evidence (slurm/rank_death.py).
"""

from __future__ import annotations

import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from results.schema import RunRecord
from results.store import log_path
from slurm import outcome, shm
from slurm.caught import Caught
from slurm.kernel_log import KernelLog
from slurm.launch import Launch
from slurm.rank_death import Seen
from slurm.ranks import RankProcess, RankWatch
from slurm.spawn import run_log, spawn
from suite.scenario import Scenario

POLL_S = 0.1  # how often the wait looks at the signals and the deadline


class Launcher(Protocol):
    """How one kind of launch is watched, stopped and read (local.LocalRanks,
    task.SlurmStep)."""

    find_every_s: float  # how often to look for ranks while they start (slurm/ranks.py)
    spans_nodes: bool  # some ranks may run on other nodes, where find_ranks cannot see them

    def find_ranks(self, proc: subprocess.Popen) -> list[RankProcess]:
        """The launch's rank processes started so far."""

    def stop(self, proc: subprocess.Popen, *, signum: int | None, orderly: bool) -> None:
        """End the launch: `signum` was caught (None: timeout_s passed); not `orderly`: an
        error in memsweep itself, end it at once."""

    def signalled(self, signum: int) -> outcome.Ending:
        """The run's ending when `signum` was caught while it went."""

    def exited(self, returncode: int, *, log: Path, signals: Caught,
               seen: Seen) -> outcome.Ending:
        """The run's ending when the launch exited by itself (settle prefers the worker's
        own record of this attempt, after a dead rank's ending)."""


def run_attempt(scenario: Scenario, launch: Launch, *, out: Path, attempt: int,
                launcher: Launcher, signals: Caught) -> RunRecord:
    """Run `launch` as attempt `attempt` of the scenario; the run's one record."""
    log = log_path(out, scenario.run_id)
    launched = datetime.now(timezone.utc)
    ending = _wait(launch, log=log, attempt=attempt, timeout_s=scenario.settings.timeout_s,
                   launcher=launcher, signals=signals,
                   watch=RankWatch(world_size=int(scenario["world_size"]),
                                   find=launcher.find_ranks, every_s=launcher.find_every_s,
                                   spans_nodes=launcher.spans_nodes))
    try:
        return outcome.settle(out, scenario=scenario.to_json(), attempt=attempt,
                              launched=launched, ending=ending, log=log)
    finally:  # also when the record cannot be written; this node's ranks', not other nodes'
        shm.clean_after(log, since=launched.timestamp())


def _wait(launch: Launch, *, log: Path, attempt: int, timeout_s: float, launcher: Launcher,
          signals: Caught, watch: RankWatch) -> outcome.Ending:
    """Start the launch, wait for it within timeout_s and the signals; how it ended."""
    with run_log(log, launch=launch, attempt=attempt) as f:
        if signals.signum:  # caught before the start: nothing to stop
            return launcher.signalled(signals.signum)
        kernel = KernelLog()  # opened first: what the kernel logs from here on
        # A session of its own (spawn.py): only what memsweep decides reaches the ranks, in
        # order, instead of a terminal's Ctrl-C or the job's signal killing them raw.
        proc = spawn(launch, log=f)
    with kernel:
        if isinstance(proc, outcome.Ending):
            return proc
        try:
            deadline = time.monotonic() + timeout_s
            while (returncode := watch.wait(proc, POLL_S)) is None:
                if signals.signum:
                    launcher.stop(proc, signum=signals.signum, orderly=True)
                    return launcher.signalled(signals.signum)
                if time.monotonic() >= deadline:
                    launcher.stop(proc, signum=None, orderly=True)
                    return outcome.timeout_ending(timeout_s)
        finally:
            watch.close()
            if proc.returncode is None:  # an unexpected error here must not leave ranks running
                launcher.stop(proc, signum=None, orderly=False)
        seen = Seen(first_dead=tuple(watch.first_dead), ranks=tuple(watch.ranks.values()),
                    signals=dict(watch.signals), all_found=watch.all_found,
                    oom_kills=kernel.oom_kills(), kernel_problem=kernel.problem)
    return launcher.exited(returncode, log=log, signals=signals, seen=seen)
