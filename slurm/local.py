"""The local executor: every scenario of a sweep through mpiexec on this machine, in order.

Each run ends with exactly one record in DIR/runs/: the worker's, or one written here
from how the launch ended (failed / timeout / cancelled / skipped, see slurm/outcome.py).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import psutil

from jobs import ops
from results.schema import RunRecord
from results.store import log_path, logs_dir, runs_dir, write_record
from slurm import outcome, progress, searching
from slurm.attempt import run_attempt
from slurm.caught import Caught
from slurm.launch import WORKER, build_launch
from slurm.rank_death import Seen, dead_rank_ending, from_mpiexec
from slurm.ranks import RankProcess, descendant_ranks
from suite.errors import EnvironmentProblem, UserInputError
from suite.host_cores import usable_cores
from suite.plan import Plan, plan_path
from suite.plan_table import plan_text
from suite.scenario import Scenario
from suite.scenario_name import scenario_name
from suite.search import combination_name
from suite.sweep import Sweep

MIN_FREE_BYTES = 100 * 2**20  # records and logs of a sweep are a few MB
GRACE_S = 10.0  # between SIGTERM and SIGKILL: time for the ranks to flush their logs
FAILING = ("failed", "oom", "timeout", "node_fail", "missing")  # make the sweep exit 1


def run_sweep(sweep: Sweep, *, out: Path, max_ranks: int | None = None, dry_run: bool = False,
              resume: bool = False, worker: Sequence[str] = WORKER,
              grace_s: float = GRACE_S) -> int:
    """Run the sweep's scenarios one after another; the exit code (0 ok, 1 a run not ok, 130)."""
    if max_ranks is not None and max_ranks < 1:
        raise UserInputError(f"must be 1 or more, got {max_ranks}", key="--ranks",
                             fix="give the most ranks this machine may start, e.g. --ranks 2")
    out = Path(out).resolve()
    if dry_run:
        return _dry_run(sweep, out=out, max_ranks=max_ranks, resume=resume, worker=worker)
    mpiexec = find_mpiexec()
    prepare_output(out)
    plan = plan_path(out)
    Plan.of(sweep).write(plan)
    if sweep.search:
        return _run_searches(sweep, out=out, mpiexec=mpiexec, max_ranks=max_ranks,
                             resume=resume, worker=worker, grace_s=grace_s)
    labels = _labels(sweep)
    printer = progress.Printer(total=len(sweep.scenarios), width=max(map(len, labels)))
    printer.lines([f"sweep {sweep.name}: {len(sweep.scenarios)} runs into {out} "
                   f"(mpiexec: {mpiexec})"])
    to_launch = sum(1 for s in sweep.scenarios if not _too_big(s, max_ranks))
    done: list[progress.Done] = []
    durations: list[float] = []
    t0 = time.monotonic()
    # SIGINT and SIGTERM: the loop stops the ranks, records the run `cancelled`, ends the sweep
    with Caught((signal.SIGINT, signal.SIGTERM)) as interrupts:
        for index, (scenario, text) in enumerate(zip(sweep.scenarios, labels, strict=True), 1):
            if interrupts.signum:
                break
            printer.start(index, text)
            t = time.monotonic()
            try:
                record, note, launched = _one(scenario, out=out, plan=plan, mpiexec=mpiexec,
                                              max_ranks=max_ranks, resume=resume, worker=worker,
                                              grace_s=grace_s, interrupts=interrupts)
            except OSError as e:  # the disk filled up, or the folder went read-only, meanwhile
                raise EnvironmentProblem(
                    f"cannot write into the output folder {out} any more (run "
                    f"{scenario.run_id}, {index} of {len(sweep.scenarios)}): {e.strerror or e}\n"
                    f"  fix: free some space or make it writable, then run the same command "
                    f"with --resume") from None
            took = time.monotonic() - t if launched else None  # wall time: what one waits
            if took is not None:
                durations.append(took)
                to_launch -= 1
            printer.finish(status=record.status, duration_s=took,
                           elapsed_s=time.monotonic() - t0,
                           eta=None if interrupts.signum else progress.eta_s(durations, to_launch),
                           note=note)
            log = str(log_path(out, scenario.run_id)) if launched else None  # the worker's
            done.append(progress.Done(index=index, label=text, status=record.status,  # record
                                      reason=record.reason, log_path=log))  # does not say
            if record.status == "cancelled":
                break
    printer.lines(progress.summary(done=done, total=len(sweep.scenarios),
                                   elapsed_s=time.monotonic() - t0, out=out))
    if interrupts.signum:
        return 128 + interrupts.signum  # 130 for Ctrl-C, as a shell reports it
    tried = [d for d in done if d.status != "skipped"]
    if tried and all(ops.not_built(d.reason) for d in tried):
        printer.lines([f"every run stopped for a DeepSpeed op not built for this "
                       f"installation: {ops.FIX}"])
        return EnvironmentProblem.exit_code
    return 1 if any(d.status in FAILING for d in done) else 0


def _run_searches(sweep: Sweep, *, out: Path, mpiexec: str,
                  max_ranks: int | None, resume: bool, worker: Sequence[str],
                  grace_s: float) -> int:
    """Each combination's capacity search, one after another (slurm/searching.py)."""
    say = progress.Printer(total=len(sweep.scenarios), width=0).lines
    search = sweep.search
    say([f"sweep {sweep.name}: capacity search of {search.axis} from {search.lower} to "
         f"{search.upper} (resolution {search.resolution:g}) for {len(sweep.scenarios)} "
         f"combinations, into {out} (mpiexec: {mpiexec})"])
    t0, outcomes = time.monotonic(), []
    with Caught((signal.SIGINT, signal.SIGTERM)) as interrupts:
        def run_one(probe: Scenario) -> tuple[RunRecord, bool]:
            if known := searching.reused(out, probe):  # a search never runs a probe twice
                return known, False
            probe_plan = searching.probe_plan(out, sweep.name, probe)
            record, _, launched = _one(probe, out=out, plan=probe_plan, mpiexec=mpiexec,
                                       max_ranks=max_ranks, resume=resume, worker=worker,
                                       grace_s=grace_s, interrupts=interrupts)
            return record, launched

        for index, combination in enumerate(sweep.scenarios, 1):
            if interrupts.signum:
                break
            say([f"[{index}/{len(sweep.scenarios)}] "
                 f"{combination_name(search, combination.values)}"])
            outcomes.append(searching.run_search(
                search, sweep.name, combination, out=out, run_one=run_one,
                say=lambda line: say([line]), should_stop=lambda: bool(interrupts.signum)))
    say([f"{len(outcomes)} of {len(sweep.scenarios)} searches in "
         f"{progress.clock(time.monotonic() - t0)}:",
         *map(searching.summary_line, outcomes), f"records: {out}/runs, searches: "
         f"{out}/searches", f"next:    memsweep report {out}"])
    if interrupts.signum:
        return 128 + interrupts.signum
    return 1 if any(o.status in ("failed", "cancelled") for o in outcomes) else 0


def _one(scenario: Scenario, *, out: Path, plan: Path, mpiexec: str, max_ranks: int | None,
         resume: bool, worker: Sequence[str], grace_s: float,
         interrupts: Caught) -> tuple[RunRecord, str | None, bool]:
    """One scenario's record, a note for its line, and whether it was launched."""
    run_id = scenario.run_id
    previous = outcome.previous_record(out, run_id)
    if resume and previous and previous.status == "ok":
        return previous, f"kept from attempt {previous.attempt} (--resume)", False
    if _too_big(scenario, max_ranks):
        if previous and previous.status != "skipped":
            # An earlier real result says more than "not run this time": keep it.
            return previous, f"world_size > --ranks {max_ranks}; kept attempt " \
                             f"{previous.attempt}'s record", False
        now = datetime.now(timezone.utc)
        record = outcome.launcher_record(
            scenario=scenario.to_json(), attempt=outcome.next_attempt(previous),
            ending=outcome.Ending(status="skipped", reason=_skip_reason(scenario, max_ranks)),
            started=now, finished=now, log=None)
        write_record(out, record)
        return record, None, False
    attempt = outcome.next_attempt(previous)
    launch = build_launch(mpiexec=mpiexec, python=sys.executable,
                          world_size=int(scenario["world_size"]), device=str(scenario["device"]),
                          plan=plan, run_id=run_id, out=out, attempt=attempt,
                          cores=usable_cores(), environ=os.environ, worker=worker)
    record = run_attempt(scenario, launch, out=out, attempt=attempt,
                         launcher=LocalRanks(grace_s=grace_s), signals=interrupts)
    return record, None, True


@dataclass(frozen=True, kw_only=True)
class LocalRanks:
    """mpiexec's ranks on this machine, for slurm/attempt.py."""

    grace_s: float  # between SIGTERM and SIGKILL
    find_every_s: float = 0.1  # reading /proc below mpiexec is cheap
    spans_nodes: bool = False  # every rank is below mpiexec here

    def stop(self, proc: subprocess.Popen, *, signum: int | None, orderly: bool) -> None:
        stop(proc, grace_s=self.grace_s if orderly else 0)

    def signalled(self, signum: int) -> outcome.Ending:
        return outcome.cancelled_ending(signum)

    def find_ranks(self, proc: subprocess.Popen) -> list[RankProcess]:
        return descendant_ranks(proc)

    def exited(self, returncode: int, *, log: Path, signals: Caught,
               seen: Seen) -> outcome.Ending:
        ending = outcome.exit_ending(returncode)
        if returncode == 0:
            return ending
        tail = outcome.read_log_tail(log)
        return dead_rank_ending(seen, how=from_mpiexec(returncode, tail),
                                said=f"mpiexec: {ending.reason}") or ending


def stop(proc: subprocess.Popen, *, grace_s: float) -> None:
    """SIGTERM mpiexec and every process under it, SIGKILL whatever is left after grace_s.

    Its process group is not enough: MPICH's hydra starts its proxy and each rank with
    setsid, so the ranks live in sessions of their own, below mpiexec in the tree.
    """
    try:
        family = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    _signal(proc, family, signal.SIGTERM)
    end = time.monotonic() + grace_s
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        pass
    _, alive = psutil.wait_procs(family, timeout=max(0.0, end - time.monotonic()))
    if proc.returncode is None or alive:
        for p in alive:  # a rank may have started children of its own meanwhile
            try:
                family.extend(p.children(recursive=True))
            except psutil.NoSuchProcess:
                pass
        _signal(proc, family, signal.SIGKILL)
        proc.wait()
        psutil.wait_procs(family, timeout=5)


def _signal(proc: subprocess.Popen, family: list[psutil.Process], sig: int) -> None:
    if proc.returncode is None:  # not reaped yet, so its pid (= its group id) is still ours
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
    for p in family:
        try:
            p.send_signal(sig)  # psutil checks the pid was not reused since
        except psutil.NoSuchProcess:
            pass


def prepare_output(out: Path) -> None:
    """The output folder exists, is writable and has room, before anything runs."""
    fix = "  fix: choose another folder with --out, or make this one writable"
    try:
        for folder in (out, runs_dir(out), logs_dir(out)):
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):  # access() lies for root and ACLs
                pass
    except OSError as e:
        raise EnvironmentProblem(f"cannot write to the output folder {out}: "
                                 f"{e.strerror or e}\n{fix}") from None
    free = shutil.disk_usage(out).free
    if free < MIN_FREE_BYTES:
        raise EnvironmentProblem(f"the output folder {out} has {free // 2**20} MB free, "
                                 f"memsweep needs at least {MIN_FREE_BYTES // 2**20} MB\n"
                                 f"  fix: free some space or choose another folder with --out")


def find_mpiexec(environ=os.environ) -> str:
    """MEMSWEEP_MPIEXEC, else the mpiexec next to this Python (the PyPI MPI), else PATH's."""
    if chosen := environ.get("MEMSWEEP_MPIEXEC"):
        found = shutil.which(chosen)
        if not found:
            raise EnvironmentProblem(f"MEMSWEEP_MPIEXEC={chosen} is not an executable\n"
                                     f"  fix: point it at an mpiexec, or unset it")
        return found
    # Not resolved: in a venv, sys.executable's folder is the venv's bin, where pip put mpiexec.
    beside = Path(sys.executable).parent / "mpiexec"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    if found := shutil.which("mpiexec"):
        return found
    raise EnvironmentProblem("no mpiexec found (MEMSWEEP_MPIEXEC, next to Python, PATH)\n"
                             "  fix: pip install mpich (the `mpi` extra), load your MPI module, "
                             "or set MEMSWEEP_MPIEXEC=/path/to/mpiexec")


def _dry_run(sweep: Sweep, *, out: Path, max_ranks: int | None, resume: bool,
             worker: Sequence[str]) -> int:
    try:
        mpiexec = find_mpiexec()
    except EnvironmentProblem as e:
        print(f"memsweep: warning: {str(e).splitlines()[0]}; shown as `mpiexec`",
              file=sys.stderr)
        mpiexec = "mpiexec"
    print(plan_text(sweep))
    print(f"\nlaunch commands (dry run: nothing written, nothing started; output {out}):")
    for index, scenario in enumerate(sweep.scenarios, 1):
        previous = outcome.previous_record(out, scenario.run_id)
        if resume and previous and previous.status == "ok":
            print(f"[{index}] {scenario.run_id}: ok in attempt {previous.attempt}, kept")
        elif _too_big(scenario, max_ranks):
            print(f"[{index}] {scenario.run_id}: skipped: {_skip_reason(scenario, max_ranks)}")
        else:
            launch = build_launch(mpiexec=mpiexec, python=sys.executable,
                                  world_size=int(scenario["world_size"]),
                                  device=str(scenario["device"]), plan=plan_path(out),
                                  run_id=scenario.run_id, out=out,
                                  attempt=outcome.next_attempt(previous),
                                  cores=usable_cores(), environ=os.environ, worker=worker)
            print(f"[{index}] {launch.shell()}")
    return 0


def _labels(sweep: Sweep) -> list[str]:
    return [scenario_name(s.values, repetition=s.repetition if sweep.repetitions > 1 else None)
            for s in sweep.scenarios]


def _too_big(scenario: Scenario, max_ranks: int | None) -> bool:
    return max_ranks is not None and int(scenario["world_size"]) > max_ranks


def _skip_reason(scenario: Scenario, max_ranks: int | None) -> str:
    n = scenario["world_size"]
    return (f"needs {n} ranks but --ranks {max_ranks} allows {max_ranks}: run it with "
            f"--ranks {n} (or without --ranks) where {n} ranks fit, or submit the sweep to Slurm")


