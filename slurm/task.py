"""One array task: scenario INDEX of the plan on its world size of ranks, then its one record.

    python -m slurm.task --plan DIR/plan.json --out DIR --index I     (the array script execs it)

The ranks run as one job step (slurm/step.py) writing to DIR/logs/<run_id>.log. The run's
record is settled (slurm/outcome.py) from how the step ended; the worker's own record of
this attempt wins (a failed one comes after a dead rank's account, below):

    SIGUSR1 (#SBATCH --signal, before the time limit), or the sweep's timeout_s   timeout
    SIGTERM or SIGINT (scancel, preemption)                                        cancelled
    srun or slurmstepd report an OOM kill in the step's cgroup                     oom
    srun exits without a record                                                    failed
    any of these but ok, while a node of the job is down or not responding       node_fail

A rank that died comes first in the reason: its rank, pid (`scontrol listpids`), signal and
host (slurm/rank_death.py), then srun's words, then a surviving rank's own error.

Exit codes: 0 the run's record is ok, 1 it is not, 2 bad arguments or plan (no record).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from results.schema import RunRecord, replace
from results.store import logs_dir, write_record
from slurm import nodes, outcome, scheduler
from slurm.attempt import run_attempt
from slurm.caught import Caught
from slurm.launch import Launch
from slurm.mpi_plugin import detect_mpi, library_version
from slurm.rank_death import How, Seen, dead_rank_ending, from_mpiexec, from_srun
from slurm.ranks import Finder, RankProcess, descendant_ranks, slurm_step_ranks
from slurm.step import build_step
from slurm.step_log import StepLog, read_step_log
from suite.errors import EnvironmentProblem, MemsweepError
from suite.plan import read_scenario
from suite.scenario import Scenario

CAUGHT = (signal.SIGUSR1, signal.SIGTERM, signal.SIGINT)  # time limit, scancel, Ctrl-C
INTERRUPT_GRACE_S = 5.0  # after srun's Ctrl-C: the ranks print where they were and exit
KILL_GRACE_S = 3.0  # after SIGTERM (srun then kills the step), before SIGKILL; all < KillWait
LATE_SIGNAL_S = 1.0  # srun may end a moment before scancel's SIGTERM reaches this process
TIME_LIMIT = outcome.Ending(
    status="timeout", reason="the Slurm job was about to reach its time limit (SIGUSR1 from "
                             "#SBATCH --signal); the run was stopped: raise --time (or the "
                             "profile's time) if the scenario needs longer")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m slurm.task", description=__doc__.split("\n")[0])
    p.add_argument("--plan", required=True, type=Path, help="DIR/plan.json")
    p.add_argument("--out", required=True, type=Path, help="the sweep's output folder")
    p.add_argument("--index", required=True, type=int,
                   help="the scenario's position in the plan ($SLURM_ARRAY_TASK_ID)")
    return p


def main(argv: list[str] | None = None) -> int:
    with Caught(CAUGHT) as signals:  # first: a scancel during start-up still ends in a record
        args = build_parser().parse_args(argv)
        try:
            scenario = read_scenario(args.plan, index=args.index)
            launch, attempt = step(scenario, plan=args.plan, out=args.out)
        except (MemsweepError, ValueError) as e:
            print(f"memsweep task: error: {e}", file=sys.stderr)
            return 2
        record = run(scenario, launch, out=args.out, attempt=attempt, signals=signals)
    print(f"memsweep task: scenario {args.index} (run {scenario.run_id}), attempt {attempt}: "
          f"{record.status}" + (f": {record.reason}" if record.reason else ""), flush=True)
    return 0 if record.status == "ok" else 1


def step(scenario: Scenario, *, plan: Path, out: Path) -> tuple[Launch, int]:
    env = os.environ
    if "SLURM_JOB_ID" not in env:
        raise ValueError("not inside a Slurm job: this runs as a task of the array script "
                         "that `memsweep submit` writes")
    mpi = env.get("MEMSWEEP_MPI")
    if not mpi:
        mpi = detect_mpi(sys.executable)
    attempt = outcome.next_attempt(outcome.previous_record(out, scenario.run_id))
    launch = build_step(
        mpi=mpi, world_size=int(scenario["world_size"]),
        job_nodes=int(env.get("SLURM_JOB_NUM_NODES") or env.get("SLURM_NNODES") or 1),
        job_ntasks=int(env.get("SLURM_NTASKS") or scenario["world_size"]),
        cpus_per_task=int(env.get("SLURM_CPUS_PER_TASK") or 1), python=sys.executable,
        plan=plan, run_id=scenario.run_id, out=out, attempt=attempt,
        device=str(scenario["device"]), environ=env,
        library=library_version(sys.executable) if mpi == "pmi2" else None)
    return launch, attempt


def run(scenario: Scenario, launch: Launch, *, out: Path, attempt: int,
        signals: Caught) -> RunRecord:
    logs_dir(out).mkdir(parents=True, exist_ok=True)
    print(f"memsweep task: {launch.shell()}", flush=True)
    srun = Path(launch.argv[0]).name == "srun"  # else mpiexec, whose ranks are below it
    find = slurm_step_ranks(os.environ["SLURM_JOB_ID"], os.environ.get("SLURMD_NODENAME")) \
        if srun else descendant_ranks
    nodes = int(os.environ.get("SLURM_JOB_NUM_NODES") or os.environ.get("SLURM_NNODES") or 1)
    record = run_attempt(scenario, launch, out=out, attempt=attempt,
                         launcher=SlurmStep(find=find, spans_nodes=nodes > 1),
                         signals=signals)
    return node_failed(out, record, nodelist=os.environ.get("SLURM_JOB_NODELIST"))


def node_failed(out: Path, record: RunRecord, *, nodelist: str | None) -> RunRecord:
    """`record` as `node_fail` when a node of the job is down or not responding: the ranks'
    errors, or the job's SIGTERM (Slurm ends a job whose node failed), followed from that."""
    if record.status not in ("failed", "cancelled") or not nodelist:
        return record
    failure = None
    try:
        found = scheduler.nodes(nodelist)
        failure = nodes.node_failure(found)
        print(f"memsweep task: nodes {nodelist}: "
              + ", ".join(f"{n.name} {n.state}" for n in found), flush=True)
    except (EnvironmentProblem, ValueError) as e:
        print(f"memsweep task: could not ask Slurm about nodes {nodelist}: {e}", flush=True)
    if failure is None and (said := _stepd_says_node_failure()):
        failure = f"Slurm ended the job for a node failure ({said})"
    if failure is None:
        return record
    record = replace(record, status="node_fail", reason=(
        f"{failure} (a node of job {os.environ.get('SLURM_JOB_ID', '?')}, nodes {nodelist}); "
        f"the run then ended {record.status}: {record.reason}; submit with --resume to rerun "
        f"it once the node is back"))
    write_record(out, record)
    return record


def _stepd_says_node_failure() -> str | None:
    """slurmstepd's "*** JOB J ON n1 CANCELLED AT ... DUE TO NODE FAILURE ***" from this task's
    own output (its stdout is the #SBATCH --output file), where the node query said nothing."""
    try:
        tail = outcome.read_log_tail(Path(os.readlink("/proc/self/fd/1")))
    except OSError:
        return None
    return next((line.strip() for line in (tail or "").splitlines()
                 if "DUE TO NODE FAILURE" in line), None)


@dataclass(frozen=True, kw_only=True)
class SlurmStep:
    """The job step's ranks under srun (or mpiexec) inside this array task, for
    slurm/attempt.py."""

    find: Finder  # srun's ranks run under slurmstepd; mpiexec's under it
    find_every_s: float = 0.25  # `scontrol listpids` is a process of its own
    spans_nodes: bool = False  # the job has several nodes: listpids sees this one's ranks

    def find_ranks(self, proc: subprocess.Popen) -> list[RankProcess]:
        return self.find(proc)

    def stop(self, proc: subprocess.Popen, *, signum: int | None, orderly: bool) -> None:
        # Ranks interrupted print where they were: on the time limit's SIGUSR1 or our own
        # timeout_s, not on scancel (Slurm's KillWait is short) nor on an error of ours.
        stop(proc, interrupt=orderly and signum in (None, signal.SIGUSR1))

    def signalled(self, signum: int) -> outcome.Ending:
        return _signalled(signum)

    def exited(self, returncode: int, *, log: Path, signals: Caught,
               seen: Seen) -> outcome.Ending:
        if returncode != 0 and not signals.signum:
            time.sleep(LATE_SIGNAL_S)  # srun killed by scancel: our own SIGTERM is on its way
        if signals.signum:
            return _signalled(signals.signum)
        ending = outcome.exit_ending(returncode)
        if returncode == 0:
            return ending
        step = read_step_log(log)  # the whole log: tracebacks push srun's lines out of its tail
        first = seen.first_dead[0].rank if len(seen.first_dead) == 1 else None
        how = from_srun(step, first=first, watched=frozenset(r.rank for r in seen.ranks)) or \
            from_mpiexec(returncode, outcome.read_log_tail(log))
        said = ending.reason
        if words := _srun_words(step, how):  # which rank, and how, in srun's words
            said += f"; srun: {words}"
        step_oom = None
        if step.oom:
            step_oom = (f"the Slurm step reported an OOM kill in its cgroup: \"{step.oom}\"; "
                        f"a rank went over the job's memory limit (--mem)")
        return dead_rank_ending(seen, how=how, said=said, step_oom=step_oom) or \
            (outcome.Ending(status="oom", reason=f"{step_oom}; {said}") if step_oom else
             outcome.Ending(status=ending.status, reason=said))


def _srun_words(step: StepLog, how: How | None) -> str | None:
    """srun's line on the task named first (else its first line): "task 1: Killed (on n2)"."""
    named = [e for e in step.ends if how and how.rank is not None and e.rank == how.rank]
    found = (named or list(step.ends))[:1]
    return found[0].words() if found else None


def stop(proc: subprocess.Popen, *, interrupt: bool) -> None:
    """End the step. With `interrupt`, first srun's Ctrl-C (two SIGINTs): the ranks get
    SIGINT and Python prints where each one was. Then SIGTERM (srun kills the step), SIGKILL."""
    if interrupt:
        for _ in range(2):
            _send(proc, signal.SIGINT)
            time.sleep(0.3)
        if _waited(proc, INTERRUPT_GRACE_S):
            return
    _send(proc, signal.SIGTERM)
    if not _waited(proc, KILL_GRACE_S):
        _send(proc, signal.SIGKILL)
        proc.wait()


def _send(proc: subprocess.Popen, sig: int) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)


def _waited(proc: subprocess.Popen, seconds: float) -> bool:
    try:
        proc.wait(timeout=seconds)
        return True
    except subprocess.TimeoutExpired:
        return False


def _signalled(signum: int) -> outcome.Ending:
    if signum == signal.SIGUSR1:
        return TIME_LIMIT
    return outcome.Ending(status="cancelled",
                          reason=f"the Slurm job was cancelled ({signal.Signals(signum).name}: "
                                 f"scancel, preemption or a shutdown) while the run was going; "
                                 f"it was stopped")


if __name__ == "__main__":
    raise SystemExit(main())
