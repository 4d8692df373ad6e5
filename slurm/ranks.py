"""A running launch's rank processes, and which of them ended first.

The launcher's own exit status does not say which rank died: MPICH's mpiexec reports the
signal of the first death but SIGKILLs the other ranks at once, and srun gives no pid. While
the attempt waits (slurm/attempt.py), a `RankWatch` learns each rank's pid (from the rank's
environment, or from `scontrol listpids` for a Slurm step) and holds a pidfd per rank, which
becomes readable the moment that process ends: the first one readable is the rank that died
first, before the launcher ended the others.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil

# A rank's number in its environment: MPICH's hydra, Open MPI, PMIx, Slurm's srun.
RANK_ENV = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID")
STARTING_S = 5.0  # ranks start within this after the launch, unless the step is held
FIND_MAX_S = 10.0  # later, looks for ranks double their interval up to this


@dataclass(frozen=True, kw_only=True)
class RankProcess:
    rank: int
    pid: int
    host: str

    def __post_init__(self) -> None:
        if self.rank < 0 or self.pid < 1:
            raise ValueError(f"rank {self.rank} and pid {self.pid}: a rank is 0 or more, a pid "
                             f"1 or more")

    def name(self) -> str:
        return f"rank {self.rank} (pid {self.pid})"


Finder = Callable[[subprocess.Popen], list[RankProcess]]


def descendant_ranks(proc: subprocess.Popen) -> list[RankProcess]:
    """The ranks below `proc` (mpiexec, here or inside a Slurm allocation), by environment."""
    try:
        family = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    host, ranked = socket.gethostname(), {}
    for p in family:
        try:
            env, parent = p.environ(), p.ppid()
        except psutil.Error:  # gone, or not ours
            continue
        rank = next((env[k] for k in RANK_ENV if k in env), None)
        if rank is not None and rank.isdigit():
            ranked[p.pid] = (int(rank), parent)
    # a rank's own children inherit its environment: the rank is the one whose parent is not
    return [RankProcess(rank=rank, pid=pid, host=host)
            for pid, (rank, parent) in ranked.items() if parent not in ranked]


def slurm_step_ranks(job_id: str, node: str | None = None,
                     scontrol: str = "scontrol") -> Finder:
    """The ranks of this job's steps on this node, from `scontrol listpids` (srun starts
    them under slurmstepd, not under this process). `node` is the node's Slurm name
    ($SLURMD_NODENAME): listpids then asks that node's slurmd (several may share a host, as
    on the two-node cluster) and each rank carries the name srun gives its node too."""
    def find(proc: subprocess.Popen) -> list[RankProcess]:
        try:
            done = subprocess.run([scontrol, "listpids", job_id, *([node] if node else [])],
                                  capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return []
        host, found = node or socket.gethostname(), []
        for line in done.stdout.splitlines()[1:]:  # PID JOBID STEPID LOCALID GLOBALID
            fields = line.split()
            if len(fields) == 5 and fields[0].isdigit() and fields[2].isdigit() \
                    and fields[4].isdigit() and _is_rank(int(fields[0])):
                found.append(RankProcess(rank=int(fields[4]), pid=int(fields[0]), host=host))
        return found
    return find


def _is_rank(pid: int) -> bool:
    """A step's task, not one of its children (listpids lists both under the same ids)."""
    try:
        parent = psutil.Process(pid).parent()
        return parent is not None and parent.name() == "slurmstepd"
    except psutil.Error:
        return False


def _exit_signal(pid: int) -> int | None:
    """The signal that ended `pid`, while it is a zombie not yet reaped by its launcher: the
    exit status in /proc/PID/stat (field 52, Linux >= 3.5), as waitpid would give it."""
    fields = _stat(pid)
    if len(fields) < 50 or fields[0] != "Z" or not fields[49].isdigit():
        return None
    return int(fields[49]) & 0x7F or None


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat's fields after the command name (state first); [] once reaped."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rpartition(")")[2].split()
    except OSError:
        return []  # reaped (or not Linux): no longer there


class RankWatch:
    """Waits on a launch and its ranks together; remembers which rank ended first."""

    def __init__(self, *, world_size: int, find: Finder, every_s: float,
                 spans_nodes: bool = False) -> None:
        self.world_size = world_size
        self.spans_nodes = spans_nodes
        self.find = find
        self.every_s = every_s  # between looks while the ranks start
        self.ranks: dict[int, RankProcess] = {}  # by pid
        self.first_dead: list[RankProcess] = []  # ended together at the first wake-up
        self.signals: dict[int, int] = {}  # pid -> the signal that ended it, where seen
        self.all_found = True  # every rank here was known when the first one ended
        self._fds: dict[int, int] = {}  # pidfd -> pid, of ranks still running
        self._started = time.monotonic()
        self._next_find, self._every = 0.0, every_s
        self._looking = True

    def wait(self, proc: subprocess.Popen, timeout: float) -> int | None:
        """Like proc.wait(timeout) but returning None on time-out; sees ranks end meanwhile."""
        if self._looking and time.monotonic() >= self._next_find:
            self._look(proc)
        if not self._fds:
            try:
                return proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return None
        ready, _, _ = select.select(list(self._fds), [], [], timeout)
        ended = [self.ranks[self._fds.pop(fd)] for fd in ready]
        for fd in ready:
            os.close(fd)
        for rank in ended:  # read before the launcher reaps it, where the watch is in time
            if signum := _exit_signal(rank.pid):
                self.signals[rank.pid] = signum
        if ended and not self.first_dead:
            # Ended by the same wake-up: in no order the watch can know. Taking the one its
            # launcher had reaped already as the first named rank 0 for a SIGKILLed rank 1 in
            # 2 of ~20 runs here under load (the clean-up's kill came before the reaping).
            self.first_dead = sorted(ended, key=lambda r: r.rank)
            self.all_found = self.spans_nodes or len(self.ranks) >= self.world_size
        return proc.poll()

    def _look(self, proc: subprocess.Popen) -> None:
        """Learn the ranks started since the last look, until all `world_size` are known.
        Where ranks may run on other nodes (`spans_nodes`), a step's ranks on this node
        start together: once some are known, a look that finds no new one is the last.
        Elsewhere every rank is here, only maybe not started yet (a loaded machine: a run
        whose rank 1 was SIGKILLed 0.3 s in had its rank 0 found alone, and that rank
        named as the dead one). Look every `every_s` (a rank killed early is then still
        named), after STARTING_S less and less often (a step may wait for its
        resources), so that a long run costs no more than a few looks."""
        known = len(self.ranks)
        self._learn(self.find(proc))
        if len(self.ranks) >= self.world_size or \
                (self.spans_nodes and known and len(self.ranks) == known):
            self._looking = False
        elif time.monotonic() - self._started > STARTING_S:
            self._every = min(2 * self._every, FIND_MAX_S)
        self._next_find = time.monotonic() + self._every

    def _learn(self, found: list[RankProcess]) -> None:
        for rank in found:
            if rank.pid in self.ranks:
                continue
            try:
                fd = os.pidfd_open(rank.pid)
            except (OSError, AttributeError):  # gone already, or no pidfds (not Linux >= 5.3)
                continue
            self.ranks[rank.pid] = rank
            self._fds[fd] = rank.pid

    def close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()
