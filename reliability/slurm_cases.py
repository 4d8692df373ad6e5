"""The faults of `memsweep faults --slurm` (reliability/slurm_campaign.py), one function each.

Each takes a SlurmCase that is set up but not yet submitted, submits it, injects its fault
(a signal to a rank or to the task process, a Slurm command, a daemon killed or restarted,
a node drained), puts the cluster back as it was, and says how the faulted run (the case's
first) ended and whether that is what memsweep promises. `false` marks a wrong status (an
injected SIGKILL recorded `oom`, a node death recorded `failed`): the campaign counts them.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from reliability.cases import Seen
from reliability.cluster import task_pid
from reliability.fault_point import FAULT_ENV, POINTS, SIGNALS
from reliability.slurm_case import SlurmCase
from reliability.stand_in import CONFIG_ENV
from results.schema import RunRecord

STEP_S = 0.05  # the stand-in's step (reliability/stand_in.py)


def _st(record: RunRecord | None) -> str:
    return f"{record.status} a{record.attempt}" if record else "no record"


def _seen(case: SlurmCase, want: str, ok: bool, detail: str, *, rest_ok: bool = True) -> Seen:
    """How the faulted run ended against `want` ("ok a2": status and attempt), and the runs
    after it (each must be ok)."""
    first, *rest = case.records()
    status = first.status if first else None
    ok = ok and _st(first) == want and (not rest_ok or all(r and r.status == "ok" for r in rest))
    return Seen(faulted=_st(first), expected=ok, detail=detail,
                false_status=status is not None and status != want.split()[0])


def _long(case: SlurmCase, steps: int) -> None:
    """The faulted run's stand-in ranks take `steps` steps; the others the default few."""
    case.env[CONFIG_ENV] = {case.run_ids[0]: {"steps": steps}}


def dead_rank_first(record: RunRecord | None, rank: int, signal_name: str) -> bool:
    """The reason starts with the dead rank and its signal (slurm/rank_death.py), its pid
    where `scontrol listpids` saw it."""
    return bool(record and re.match(rf"rank {rank} (\(pid \d+\) )?killed by {signal_name}\b",
                                    record.reason or ""))


def rank_sigkill(case: SlurmCase) -> Seen:
    """SIGKILL to one stand-in rank mid-step, from outside: failed, the dead rank first."""
    _long(case, 600)
    case.submit()
    step, rank = case.rng.randint(2, 6), case.rng.randrange(2)
    pid = case.wait_log(0, f" step {step}\n") and case.signal_rank(0, rank, signal.SIGKILL)
    case.finish()
    first = case.records()[0]
    return _seen(case, "failed a1", bool(pid) and dead_rank_first(first, rank, "SIGKILL"),
                 f"rank {rank} (pid {pid}) SIGKILL at step {step}: "
                 f"{(first.reason or '')[:90] if first else ''}")


def task_sigkill(case: SlurmCase) -> Seen:
    """SIGKILL to the array task's slurm.task process: nothing of the task can write the
    record; `status --reconcile` writes it from Slurm's state."""
    _long(case, 600)
    case.submit()
    hit = case.wait_log(0, f" step {case.rng.randint(2, 6)}\n")
    pid = hit and task_pid(case.out, 0)
    if pid:
        os.kill(pid, signal.SIGKILL)
    case.finish()
    first = case.records()[0]
    by = first.fingerprint.get("recorded_by") if first else None
    return _seen(case, "failed a1", bool(pid) and by == "reconcile",
                 f"slurm.task (pid {pid}) SIGKILLed; record written by {by}")


def scancel(case: SlurmCase) -> Seen:
    """`scancel` of the running array task: cancelled, and the next task still runs."""
    _long(case, 600)
    array = case.submit()
    hit = case.wait_log(0, f" step {case.rng.randint(2, 6)}\n")
    if hit:
        case.cluster.cancel(f"{array}_0")
    case.finish()
    first = case.records()[0]
    return _seen(case, "cancelled a1", hit and "scancel" in (first and first.reason or ""),
                 f"scancel {array}_0 mid-step")


def time_limit(case: SlurmCase) -> Seen:
    """The task outlives its --time (1 minute): Slurm's SIGUSR1 before the limit ends it
    `timeout`, with where each rank was."""
    _long(case, 4000)  # 200 s of steps: well past the limit
    case.submit()
    case.finish()
    first = case.records()[0]
    # srun's Ctrl-C to the ranks before the limit: the record shows where each one was
    said = "time limit" in (first and first.reason or "") and \
        "KeyboardInterrupt" in (first and first.log_tail or "")
    return _seen(case, "timeout a1", said,
                 f"--time=1 on a run of {4000 * STEP_S:.0f} s; ended after "
                 f"{first.duration_s:.0f} s" if first else "")


def mem_deepspeed(case: SlurmCase) -> Seen:
    """The real worker (DeepSpeed, GPT 125m, fp32 AdamW: ~2 GB a rank) under --mem=2G: the
    step's cgroup OOM-kills a rank: `oom`, naming that evidence."""
    case.submit()
    case.finish()
    first = case.records()[0]
    log = case.log(0).read_text(errors="replace") if case.log(0).exists() else ""
    evidence = "the Slurm step reported an OOM kill" in (first and first.reason or "")
    return _seen(case, "oom a1", evidence and "worker: " in log,
                 "jobs.worker under --mem=2G; evidence: " +
                 ("the step's cgroup OOM kill" if evidence else "NONE"))


def requeue(case: SlurmCase) -> Seen:
    """`scontrol requeue` of the running task (Slurm then holds it 2 min; the campaign lets
    it start at once): the first attempt is recorded cancelled, the second runs: ok a2."""
    _long(case, 300)
    array = case.submit()
    hit = case.wait_log(0, f" step {case.rng.randint(2, 6)}\n")
    cancelled = None
    if hit:
        case.cluster.run("scontrol", "requeue", f"{array}_0", check=True)
        cancelled = case.wait_record(0, timeout_s=120)
        end, pended = time.monotonic() + 120, False
        while time.monotonic() < end:  # once it is pending again (not while completing)
            state = case.cluster.run("squeue", "-h", "-o", "%T", "-j", f"{array}_0").stdout
            if state.startswith("PENDING"):
                pended = True
                case.cluster.run("scontrol", "update", f"jobid={array}_0", "starttime=now")
            elif not state.strip() or (pended and state.startswith("RUNNING")):
                break
            time.sleep(1)
    case.finish()
    return _seen(case, "ok a2", bool(hit) and cancelled is not None and
                 cancelled.status == "cancelled",
                 f"scontrol requeue {array}_0 mid-step; first attempt {_st(cancelled)}")


def node_drain(case: SlurmCase) -> Seen:
    """n2 drained mid-run: the running task finishes ok; the next one waits, pending with
    Slurm's reason, until the node is resumed; then it runs."""
    _long(case, 200)
    array = case.submit()
    pending, first = "", None
    try:
        if case.wait_log(0, f" step {case.rng.randint(2, 6)}\n"):
            case.cluster.set_node("n2", "drain", "memsweep faults: drained mid-sweep")
            first = case.wait_record(0)
            end = time.monotonic() + 120
            while not pending and time.monotonic() < end:
                line = next(iter(case.cluster.run("squeue", "-h", "-o", "%T %r", "-j",
                                                  f"{array}_1").stdout.split("\n")), "")
                if line.startswith("PENDING") and "JobArrayTaskLimit" not in line:
                    pending = line.strip()
                time.sleep(1)
    finally:
        problem = case.cluster.restore(nodes=("n2",))
    case.finish()
    return _seen(case, "ok a1", bool(pending) and not problem and first is not None,
                 f"task 1 while n2 drained: {pending or 'NOT SEEN PENDING'}; node resumed"
                 + (f"; {problem}" if problem else ""))


def ctld_restart(case: SlurmCase) -> Seen:
    """slurmctld stopped and started again mid-run (it recovers its state): both runs ok."""
    _long(case, 400)
    case.submit()
    pid = None
    try:
        if case.wait_log(0, f" step {case.rng.randint(2, 6)}\n"):
            pid = case.cluster.kill_daemon("slurmctld", sig=signal.SIGTERM)
            time.sleep(case.rng.uniform(0.5, 3.0))
    finally:
        problem = case.cluster.restore()
    case.finish()
    return _seen(case, "ok a1", bool(pid) and not problem,
                 f"slurmctld (pid {pid}) stopped mid-run and started again"
                 + (f"; {problem}" if problem else ""))


def node_death(case: SlurmCase) -> Seen:
    """n2's slurmd SIGKILLed under a running task: `node_fail` naming n2; once the node is
    back (its slurmd started again) the next task runs."""
    _long(case, 3000)  # 150 s: the node is marked down (SlurmdTimeout=10 s) long before
    case.submit()
    pid, first = None, None
    try:
        if case.wait_log(0, f" step {case.rng.randint(2, 6)}\n"):
            pid = case.cluster.kill_daemon("slurmd", "n2")
            # the node stays dead until the task process has ended (its last word written)
            end = time.monotonic() + 300
            while time.monotonic() < end and (case.records()[0] is None or
                                              task_pid(case.out, 0) is not None):
                time.sleep(1)
            first = case.records()[0]
    finally:
        try:  # back as a rebooted node: nothing of its step left (its slurmd's death left it)
            case.cluster.clear_node("n2")
        finally:
            problem = case.cluster.restore(nodes=("n2",))
    case.finish()
    named = bool(first and (first.reason or "").startswith("node n2"))
    return _seen(case, "node_fail a1", bool(pid) and named and not problem,
                 f"slurmd of n2 (pid {pid}) SIGKILLed mid-run; "
                 f"{(first.reason or '')[:60] if first else 'no record'}"
                 + (f"; {problem}" if problem else ""))


def deepspeed_signal(case: SlurmCase, sig: str, point: str) -> Seen:
    """The real worker's rank gets `sig` in `point` of a timed step (reliability/
    fault_point.py): SIGKILL/SIGTERM failed, the dead rank and signal first (never oom);
    SIGSTOP: the run hangs until its timeout_s: timeout."""
    rank, step = case.rng.randrange(2), case.rng.randint(2, 4)  # step 1 is the warm-up
    case.env[FAULT_ENV] = {case.run_ids[0]: {"rank": rank, "point": point, "step": step,
                                             "signal": sig}}
    case.submit()
    case.finish()
    first = case.records()[0]
    log = case.log(0).read_text(errors="replace") if case.log(0).exists() else ""
    hit = re.search(rf"fault-point: rank {rank} pid (\d+) {sig} in {point} of step {step}", log)
    cut = "worker: timed steps done" not in log
    if sig == "SIGSTOP":
        want, said = "timeout a1", "timeout_s" in (first and first.reason or "")
    else:  # named on its Slurm node: rank R on n(R+1) of the two-node cluster (one a node)
        node = f"n{rank + 1}" if case.cluster.name == "two-node" else \
            socket.gethostname().split(".")[0]  # up.sh names the node `hostname -s`
        want, said = "failed a1", dead_rank_first(first, rank, sig) and \
            f" on host {node}" in (first.reason or "")
    return _seen(case, want, bool(hit) and cut and said,
                 f"rank {rank} (pid {hit and hit.group(1)}) {sig} in {point} of step {step}: "
                 f"{(first.reason or '')[:70] if first else ''}")


@dataclass(frozen=True, kw_only=True)
class Kind:
    """A fault of the Slurm campaign and the case it needs."""

    what: str
    cluster: str  # "single-node" or "two-node"
    fault: Callable[[SlurmCase], Seen]
    worker: str = "stand-in"  # or "deepspeed" (jobs.worker, reliability/fault_point.py)
    axes: dict = field(default_factory=lambda: {"model": "tiny", "world_size": 2})
    runs: int = 2  # the faulted run and one after it (1 for the real worker's cases)
    settings: dict = field(default_factory=dict)
    profile: dict = field(default_factory=dict)
    cost_s: float = 30  # about how long a case takes here, to balance the two clusters

    def __post_init__(self) -> None:
        if self.cluster not in ("single-node", "two-node"):
            raise ValueError(f"kind {self.what!r}: cluster {self.cluster!r}: give single-node "
                             f"or two-node")
        if self.worker not in ("stand-in", "deepspeed"):
            raise ValueError(f"kind {self.what!r}: worker {self.worker!r}: give stand-in or "
                             f"deepspeed")


# The strategies the real worker's cases go through in turn (offload and ZeRO-3 included).
VARIANTS = ({"zero_stage": 1}, {"zero_stage": 2, "offload_optimizer": "cpu"},
            {"zero_stage": 3}, {"zero_stage": 3, "offload_optimizer": "cpu",
                                "offload_param": "cpu"}, {"zero_stage": 0})

SLURM_KINDS = {
    "rank-sigkill": Kind(what="SIGKILL to one stand-in rank mid-step, from outside",
                         cluster="single-node", fault=rank_sigkill, cost_s=25),
    "task-sigkill": Kind(what="SIGKILL to the array task's slurm.task process mid-run",
                         cluster="single-node", fault=task_sigkill, cost_s=25),
    "scancel": Kind(what="scancel of the running array task", cluster="single-node",
                    fault=scancel, cost_s=25),
    "time-limit": Kind(what="a task past its --time (1 minute)", cluster="single-node",
                       fault=time_limit, profile={"time": "1"}, cost_s=80),
    "mem-deepspeed": Kind(what="jobs.worker (GPT 125m, DeepSpeed) past --mem=2G",
                          cluster="single-node", fault=mem_deepspeed, worker="deepspeed",
                          axes={"model": "125m", "world_size": 2, "zero_stage": 0}, runs=1,
                          profile={"mem": "2G"}, cost_s=60),
    "requeue": Kind(what="scontrol requeue of the running task", cluster="single-node",
                    fault=requeue, cost_s=45),
    "node-drain": Kind(what="node n2 drained mid-sweep (two-node cluster)", cluster="two-node",
                       fault=node_drain, cost_s=35),
    "ctld-restart": Kind(what="slurmctld stopped and restarted mid-run (two-node cluster)",
                         cluster="two-node", fault=ctld_restart, cost_s=35),
    "node-death": Kind(what="node n2's slurmd SIGKILLed mid-run (two-node cluster)",
                       cluster="two-node", fault=node_death, cost_s=60),
}


def deepspeed_kind(sig: str, point: str, variant: dict, cluster: str) -> Kind:
    """A real-worker case: `sig` in `point`, the model trained with `variant`."""
    return Kind(what=f"{sig} to a jobs.worker rank in {point} of a timed step",
                cluster=cluster, fault=lambda c: deepspeed_signal(c, sig, point),
                worker="deepspeed", runs=1,
                axes={"model": "tiny", "world_size": 2, "precision": "fp32", **variant},
                settings={"timed_steps": 8, "timeout_s": 90 if sig == "SIGSTOP" else 600},
                cost_s=110 if sig == "SIGSTOP" else 45)


# In the order the campaign takes them: the first three cover the three signals.
DEEPSPEED_FAULTS = tuple((sig, point) for i in range(len(POINTS))
                         for sig, point in zip(SIGNALS, POINTS[i:] + POINTS[:i], strict=True))
