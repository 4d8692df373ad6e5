"""Slurm states, the job step and the status table, without a cluster (pure functions, files).

The squeue and srun texts below were captured from the single-node cluster (Slurm 22.05).
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from executor_support import make_sweep
from test_outcome import worker_record

from results import schema
from results.store import log_path, write_json_atomic, write_record
from slurm import scheduler, status, submissions
from slurm.mpi_plugin import NETMOD, library_version, mpi_for_library, netmods, step_env
from slurm.states import JobRow, ending_for, parse_squeue, vanished_ending
from slurm.step import build_step, step_nodes
from slurm.step_log import TaskEnd, parse_step_log, read_step_log
from slurm.submissions import Submission
from suite.plan_table import plan_json

SQUEUE = """\
45|45|3|PENDING|0|N/A|N/A||JobArrayTaskLimit|
46|46|N/A|PENDING|0|N/A|N/A||Dependency|
47|45|1|RUNNING|0|2026-11-25T20:00:00|2026-11-25T20:02:00|vm|None|
24|23|0|COMPLETED|0|2026-11-25T19:34:01|2026-11-25T19:34:05|vm|None|
1|1|N/A|OUT_OF_MEMORY|253|2026-11-25T19:27:50|2026-11-25T19:27:57|vm|OutOfMemory|
4|4|N/A|TIMEOUT|36608|2026-11-25T19:28:13|2026-11-25T19:29:19|vm|TimeLimit|
5|5|N/A|CANCELLED|15|2026-11-25T19:28:10|2026-11-25T19:28:16|vm|None|
25|23|1|FAILED|256|2026-11-25T19:34:01|2026-11-25T19:34:05|vm|NonZeroExitCode|
"""
OOM_STEP = """stand-in: rank 1 of 2, pid 1394: hog
slurmstepd-vm: error: Detected 1 oom-kill event(s) in StepId=62.0. Some of your processes may \
have been killed by the cgroup out-of-memory handler.
srun: error: vm: task 1: Out Of Memory
srun: launch/slurm: _step_signal: Terminating StepId=62.0"""
KILLED_STEP = """stand-in: rank 1 of 2, pid 321: killed
srun: error: vm: task 1: Killed
srun: launch/slurm: _step_signal: Terminating StepId=56.0
srun: error: vm: task 0: Terminated"""


def test_squeue_lines_become_rows():
    rows = parse_squeue(SQUEUE)
    pending, report, running = rows[:3]
    assert (pending.job_id, pending.array_job_id, pending.array_task_id, pending.state) == \
        ("45", "45", 3, "PENDING")
    assert pending.name == "45_3" and pending.start is None and not pending.terminal
    assert (report.array_task_id, report.name, report.reason) == (None, "46", "Dependency")
    assert running.name == "45_1" and running.start.tzinfo is not None
    assert (running.nodes, pending.nodes) == ("vm", "")
    assert [r.exit_code for r in rows[3:]] == ["0:0", "0:125", "143:0", "0:15", "1:0"]
    assert all(r.terminal for r in rows[3:])


def test_an_ended_job_without_a_record_says_what_slurm_saw():
    rows = {r.state: r for r in parse_squeue(SQUEUE)}
    expect = {"COMPLETED": "failed", "OUT_OF_MEMORY": "oom", "TIMEOUT": "timeout",
              "CANCELLED": "cancelled", "FAILED": "failed"}
    for state, wanted in expect.items():
        ending = ending_for(rows[state])
        assert ending.status == wanted and f"Slurm job {rows[state].name} " in ending.reason
    assert "no record" in ending_for(rows["COMPLETED"]).reason  # COMPLETED is no success
    assert "(exit 0:125, OutOfMemory)" in ending_for(rows["OUT_OF_MEMORY"]).reason
    assert "raise --time" in ending_for(rows["TIMEOUT"]).reason
    for state in ("NODE_FAIL", "PREEMPTED"):
        row = replace(rows["CANCELLED"], state=state)
        assert ending_for(row).status == {"NODE_FAIL": "node_fail",
                                          "PREEMPTED": "cancelled"}[state]
    with pytest.raises(ValueError, match="not ended"):
        ending_for(rows["PENDING"])
    gone = vanished_ending("45_3")
    assert gone.status == "missing" and "no longer knows job 45_3" in gone.reason


def test_the_step_starts_the_scenarios_ranks_with_srun():
    step = build_step(mpi="pmi2", world_size=2, job_nodes=1, job_ntasks=4, cpus_per_task=3,
                      python="/v/bin/python", plan=Path("/o/plan.json"), run_id="abc",
                      out=Path("/o"), attempt=2, device="cpu", environ={})
    assert step.argv == ("srun", "--ntasks=2", "--nodes=1", "--cpus-per-task=3", "--mpi=pmi2",
                         "--kill-on-bad-exit=1", "/v/bin/python", "-m", "jobs.worker",
                         "--plan", "/o/plan.json", "--run-id", "abc", "--out", "/o",
                         "--attempt", "2")
    assert step.env == {"PYTHONUNBUFFERED": "1", "DS_ACCELERATOR": "cpu", "OMP_NUM_THREADS": "3"}
    fallback = build_step(mpi="mpiexec", world_size=2, job_nodes=1, job_ntasks=2,
                          cpus_per_task=1, python="p", plan=Path("/p"), run_id="abc",
                          out=Path("/o"), attempt=1, device="cuda",
                          environ={"OMP_NUM_THREADS": "8"})
    assert fallback.argv[:3] == ("mpiexec", "-n", "2") and fallback.env == {
        "PYTHONUNBUFFERED": "1"}
    with pytest.raises(ValueError, match="more than the job's 2 tasks"):
        build_step(mpi="none", world_size=4, job_nodes=1, job_ntasks=2, cpus_per_task=1,
                   python="p", plan=Path("/p"), run_id="abc", out=Path("/o"), attempt=1,
                   device="cpu", environ={})


@pytest.mark.parametrize(("world", "nodes"), [(1, 1), (4, 1), (5, 2), (8, 2)])
def test_a_smaller_scenario_takes_only_the_nodes_it_needs(world, nodes):
    assert step_nodes(world_size=world, job_nodes=2, job_ntasks=8) == nodes


@pytest.mark.parametrize(("library", "plugin"), [
    ("MPICH Version:      5.0.2\nMPICH Release date: ...", "pmi2"),
    ("Open MPI v5.0.5, package: Open MPI ...", "pmix"),
    ("Intel(R) MPI Library 2021.10 for Linux* OS", "pmi2"),
    ("", "none"), (None, "none"),
])
def test_the_srun_plugin_follows_the_mpi_library(library, plugin):
    assert mpi_for_library(library) == plugin


WHEEL = ("MPICH Version:      5.0.2\nMPICH Device:       ch4:ucx ofi\n"
         "MPICH configure:    --with-device=ch4:ucx,ofi --with-pm=hydra:gforker\n")


@pytest.mark.parametrize(("library", "mpi", "environ", "env"), [
    (WHEEL, "pmi2", {}, {NETMOD: "ofi"}),  # UCX's business card can overflow a PMI-1 line
    (WHEEL, "pmi2", {NETMOD: "ucx"}, {}),  # the user's choice stands
    (WHEEL, "mpiexec", {}, {}),  # hydra reads a long PMI-1 line whole
    (WHEEL.replace("ucx ofi", "ofi"), "pmi2", {}, {}),  # OFI already, the only one
    (WHEEL.replace("ucx ofi", "ucx"), "pmi2", {}, {}),  # no OFI to choose (MPICH would crash)
    ("Open MPI v5.0.5", "pmix", {}, {}), (None, "pmi2", {}, {}),
])
def test_an_mpich_with_ofi_uses_it_under_srun_pmi2(library, mpi, environ, env):
    assert step_env(mpi=mpi, version=library, environ=environ) == env


def test_the_step_passes_the_netmod_to_its_ranks():
    assert netmods(WHEEL) == {"ucx", "ofi"} and netmods("Open MPI v5.0.5") == set()
    assert netmods(library_version(sys.executable)) == {"ucx", "ofi"}  # this installation's
    step = build_step(mpi="pmi2", world_size=2, job_nodes=2, job_ntasks=2, cpus_per_task=1,
                      python="p", plan=Path("/p"), run_id="abc", out=Path("/o"), attempt=1,
                      device="cpu", environ={}, library=WHEEL)
    assert step.env[NETMOD] == "ofi" and f"{NETMOD}=ofi " in step.shell()


def test_srun_says_how_a_task_ended(tmp_path):
    oom, killed = parse_step_log(OOM_STEP.splitlines()), parse_step_log(KILLED_STEP.splitlines())
    assert oom.oom.startswith("slurmstepd-vm: error: Detected 1 oom-kill event(s)")
    assert killed.oom is None and parse_step_log([]).oom is None
    assert killed.ends == (TaskEnd(host="vm", tasks="task 1", what="Killed"),
                           TaskEnd(host="vm", tasks="task 0", what="Terminated",
                                   after_kill=True))
    assert killed.ends[0].words() == "task 1: Killed (on vm)" and killed.ends[1].rank == 0
    both = parse_step_log(["srun: error: vm: tasks 0-1: Terminated"]).ends[0]
    assert both.words() == "tasks 0-1: Terminated (on vm)" and both.rank is None
    # a rank's progress bar of megabytes on one line is skipped past, not held
    log = tmp_path / "step.log"
    log.write_text("x" * 5_000_000 + "\nworker: rank 0 failed:\n" + KILLED_STEP + "\n")
    assert read_step_log(log) == parse_step_log(["worker: rank 0 failed:",
                                                 *KILLED_STEP.splitlines()])
    assert read_step_log(tmp_path / "none.log") == parse_step_log([])


def sweep_folder(tmp_path: Path, n: int = 3):
    sweep = make_sweep(zero_stage=list(range(n)))
    write_json_atomic(tmp_path / "plan.json", json.loads(plan_json(sweep)))
    return sweep


def test_submissions_round_trip_and_the_latest_owns_each_index(tmp_path):
    first = Submission(array_job_id="10", report_job_id="11", indices=(0, 1, 2),
                       attempts=(1, 1, 1), submitted_at="2026-01-01T00:00:00+00:00",
                       settings={"mpi": "pmi2"})
    again = Submission(array_job_id="20", indices=(1,), attempts=(2,),
                       submitted_at="2026-01-02T00:00:00+00:00")
    submissions.save(tmp_path, "t", [first, again])
    assert submissions.load(tmp_path) == [first, again]
    owners = submissions.owners([first, again])
    assert {i: s.array_job_id for i, s in owners.items()} == {0: "10", 1: "20", 2: "10"}
    assert again.attempt_of(1) == 2 and again.task(1) == "20_1"
    assert submissions.load(tmp_path / "none") == []


def test_only_a_record_of_the_submitted_attempt_speaks_for_the_run(tmp_path):
    sub = Submission(array_job_id="10", indices=(0,), attempts=(2,),
                     submitted_at=datetime.now(timezone.utc).isoformat())
    now = datetime.now(timezone.utc)
    assert status.is_current(worker_record(attempt=2, started=now), sub, 0)
    assert status.is_current(worker_record(attempt=3, started=now), sub, 0)  # requeued
    assert not status.is_current(worker_record(attempt=1, started=now), sub, 0)
    assert not status.is_current(worker_record(attempt=2, started=now - timedelta(hours=1)),
                                 sub, 0)


def test_a_folder_never_submitted_costs_no_scheduler_call(tmp_path):
    sweep = sweep_folder(tmp_path)
    record = worker_record()  # make_sweep's first scenario, ok
    write_record(tmp_path, schema.replace(record, run_id=sweep.scenarios[0].run_id))
    before = sum(scheduler.CALLS.values())
    snap = status.poll(tmp_path, reconcile=True)
    assert sum(scheduler.CALLS.values()) == before
    assert [r.record.status if r.record else None for r in snap.rows] == ["ok", None, None]
    assert snap.done and snap.exit_code == 0
    text = status.render(snap)
    assert "3 runs: 2 not submitted, 1 ok" in text and " · zero_stage=1 " in text


def test_reconcile_takes_the_tail_of_this_attempts_log_only(tmp_path):
    sweep = sweep_folder(tmp_path, n=1)
    run_id = sweep.scenarios[0].run_id
    log = log_path(tmp_path, run_id)
    log.parent.mkdir(parents=True)
    log.write_text("# memsweep: attempt 1, 2026-01-01\nold attempt's output\n")
    task_out = tmp_path / "logs" / "slurm-10_0.out"
    assert status._log_of(tmp_path, run_id, attempt=2, task="10_0") is None
    task_out.write_text("slurmstepd: error: *** JOB 11 ON vm CANCELLED ***\n")
    assert status._log_of(tmp_path, run_id, attempt=2, task="10_0") == task_out
    assert status._log_of(tmp_path, run_id, attempt=1, task="10_0") == log


def test_a_reconciled_record_names_the_task_it_speaks_for(tmp_path):
    sweep = sweep_folder(tmp_path, n=1)
    sub = Submission(array_job_id="45", indices=(0,), attempts=(1,),
                     submitted_at="2026-11-25T19:00:00+00:00",
                     settings={"profile": {"partition": "gpu-a"}})
    row = JobRow(job_id="47", array_job_id="45", array_task_id=0, state="OUT_OF_MEMORY",
                 exit_status=253, start=datetime(2026, 11, 25, 20, tzinfo=timezone.utc),
                 end=datetime(2026, 11, 25, 20, 1, tzinfo=timezone.utc), reason="OutOfMemory")
    record = status.settle_from_slurm(tmp_path, scenario=sweep.scenarios[0], sub=sub, index=0,
                                      job=row)
    assert (record.status, record.attempt, record.duration_s) == ("oom", 1, 60.0)
    assert record.fingerprint["slurm_job_id"] == "47"
    assert record.fingerprint["slurm_array_job_id"] == "45"
    assert record.fingerprint["partition"] == "gpu-a"
    assert record.fingerprint["recorded_by"] == "reconcile"
