"""run_sweep with the stand-in worker, launched through the real mpiexec (real processes)."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket

import pytest
from executor_support import STAND_IN_WORKER, leftovers, make_sweep, records

from results.store import log_path, runs_dir
from slurm import local
from slurm.local import run_sweep
from suite.errors import EnvironmentProblem, UserInputError
from suite.plan_table import plan_json


def run(sweep, out, **kwargs) -> int:
    return run_sweep(sweep, out=out, worker=STAND_IN_WORKER, **kwargs)


def test_an_ok_run_keeps_the_workers_record_and_reports_it(tmp_path, behave, capsys):
    behave("ok")
    sweep, out = make_sweep(), tmp_path / "out"
    assert run(sweep, out) == 0
    [record] = records(sweep, out)
    assert (record.status, record.attempt) == ("ok", 1)
    threads = str(max(1, len(os.sched_getaffinity(0)) // 2))
    assert record.fingerprint == {"world_size": 2, "env": {
        "DS_ACCELERATOR": "cpu", "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": threads}}
    assert json.loads((out / "plan.json").read_text()) == json.loads(plan_json(sweep))
    log = log_path(out, record.run_id).read_text()
    assert "stand-in: rank 0 of 2" in log and "stand-in: rank 1 of 2" in log
    text = capsys.readouterr().out
    assert "[1/1] tiny · 2 ranks · baseline ... ok" in text
    assert "1 of 1 runs in" in text and f"memsweep report {shlex.quote(str(out))}" in text


def test_a_crash_is_recorded_failed_with_its_log_tail_and_the_sweep_goes_on(tmp_path, behave):
    behave("crash", "ok")
    sweep, out = make_sweep(zero_stage=[0, 1]), tmp_path / "out"
    assert run(sweep, out) == 1
    crashed, ok = records(sweep, out)
    assert crashed.status == "failed" and crashed.reason == "the ranks exited with code 1"
    assert "RuntimeError: stand-in crashed on purpose" in crashed.log_tail
    assert crashed.log_path == str(log_path(out, crashed.run_id))
    assert crashed.fingerprint["recorded_by"] == "launcher" and crashed.fingerprint["hostname"]
    assert ok.status == "ok"


@pytest.mark.parametrize(("behaviour", "reason"), [
    # the dead rank first (test_a_killed_rank_is_named_first), then mpiexec's words: MPICH
    # passes the rank's signal number on
    ("killed", "; mpiexec: the ranks exited with code 9"),
    ("fail", "stand-in failed"),  # the worker's own failed record is kept
    ("stale", "the ranks exited with code 1"),  # a record from before the launch is not kept
    ("silent", "the ranks exited 0 but wrote no record"),
])
def test_every_launch_ends_in_exactly_one_record(tmp_path, behave, behaviour, reason):
    behave(behaviour)
    sweep, out = make_sweep(), tmp_path / "out"
    assert run(sweep, out) == 1
    [record] = records(sweep, out)
    assert (record.status, record.attempt) == ("failed", 1) and record.reason.endswith(reason)
    assert [p.name for p in runs_dir(out).iterdir()] == [f"{record.run_id}.json"]
    assert not leftovers(str(tmp_path))


def test_a_killed_rank_is_named_first_with_its_pid_host_and_signal(tmp_path, behave):
    behave("killed")  # the last rank SIGKILLs itself; no OOM kill of it in the kernel's log
    sweep, out = make_sweep(), tmp_path / "out"
    assert run(sweep, out) == 1
    [record] = records(sweep, out)
    said = re.search(r"stand-in: rank 1 of 2, pid (\d+): killed",
                     log_path(out, record.run_id).read_text())
    assert said, record.log_tail
    assert record.status == "failed"
    assert record.reason.startswith(f"rank 1 (pid {said.group(1)}) killed by SIGKILL on host "
                                    f"{socket.gethostname()} (not counted as out of memory: ")


@pytest.mark.parametrize("behaviour", ["hang", "hang-hard"])
def test_a_run_past_its_timeout_is_stopped_and_recorded(tmp_path, behave, behaviour):
    behave(behaviour, "ok")  # hang-hard ignores SIGTERM: only the SIGKILL after grace ends it
    sweep, out = make_sweep(zero_stage=[0, 1], timeout_s=2), tmp_path / "out"
    assert run(sweep, out, grace_s=1.0) == 1  # it returns at all: the hang was ended
    timed_out, ok = records(sweep, out)
    assert timed_out.status == "timeout" and "timeout_s = 2 s" in timed_out.reason
    assert timed_out.duration_s >= 2  # it was the timeout that ended it, not anything sooner
    assert "rank 1 hanging" in timed_out.log_tail
    assert ok.status == "ok"
    assert not leftovers(str(tmp_path))


def test_attempts_count_launches_and_resume_keeps_the_ok_runs(tmp_path, behave):
    sweep, out = make_sweep(zero_stage=[0, 1]), tmp_path / "out"
    behave("crash", "ok")
    assert run(sweep, out) == 1
    behave("crash", "crash")
    assert run(sweep, out) == 1
    assert [(r.status, r.attempt) for r in records(sweep, out)] == [("failed", 2), ("failed", 2)]
    behave("ok", "ok")
    assert run(sweep, out) == 0
    behave("ok", "crash")  # the second would crash, but --resume does not launch it again
    assert run(sweep, out, resume=True) == 0
    assert [(r.status, r.attempt) for r in records(sweep, out)] == [("ok", 3), ("ok", 3)]


def test_a_world_size_above_ranks_is_skipped_with_the_fix(tmp_path, behave, capsys):
    behave("ok", "ok")
    sweep, out = make_sweep(world_size=[1, 2]), tmp_path / "out"
    assert run(sweep, out, max_ranks=1) == 0  # skipped is not a failure
    ok, skipped = records(sweep, out)
    assert ok.status == "ok" and ok.fingerprint["world_size"] == 1
    assert skipped.status == "skipped"
    assert "--ranks 1" in skipped.reason and "--ranks 2" in skipped.reason
    assert not log_path(out, skipped.run_id).exists()
    assert "skipped" in capsys.readouterr().out


def test_a_skip_does_not_replace_an_earlier_result(tmp_path, behave):
    behave("ok")
    sweep, out = make_sweep(), tmp_path / "out"
    assert run(sweep, out) == 0
    assert run(sweep, out, max_ranks=1) == 0
    [record] = records(sweep, out)
    assert (record.status, record.attempt) == ("ok", 1)


def test_dry_run_prints_each_command_and_writes_nothing(tmp_path, behave, capsys):
    sweep, out = make_sweep(world_size=[1, 2]), tmp_path / "out"
    assert run(sweep, out, dry_run=True, max_ranks=1) == 0
    assert not out.exists()
    text = capsys.readouterr().out
    assert "sweep t" in text  # the plan
    [line] = [x for x in text.splitlines() if "stand_in_worker.py" in x]
    assert line.startswith("[1] ") and "mpiexec -n 1" in line
    assert shlex.split(line[4:])[-2:] == ["--attempt", "1"]
    assert f"{sweep.scenarios[1].run_id}: skipped" in text


def test_a_missing_mpiexec_stops_before_anything_is_written(tmp_path, behave, monkeypatch):
    monkeypatch.setenv("MEMSWEEP_MPIEXEC", str(tmp_path / "no-mpiexec"))
    with pytest.raises(EnvironmentProblem, match="MEMSWEEP_MPIEXEC"):
        run(make_sweep(), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_too_little_free_space_stops_before_anything_runs(tmp_path, behave, monkeypatch):
    monkeypatch.setattr(local, "MIN_FREE_BYTES", 2**62)  # more than any disk here has
    with pytest.raises(EnvironmentProblem, match=f"output folder {tmp_path / 'out'} has"):
        run(make_sweep(), tmp_path / "out")
    assert not (tmp_path / "out" / "plan.json").exists()


def test_ranks_below_one_is_a_user_error(tmp_path):
    with pytest.raises(UserInputError, match="--ranks"):
        run(make_sweep(), tmp_path / "out", max_ranks=0)


def test_mpiexec_is_found_from_the_variable_then_beside_python(tmp_path, monkeypatch):
    fake = tmp_path / "my-mpiexec"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert local.find_mpiexec({"MEMSWEEP_MPIEXEC": str(fake)}) == str(fake)
    beside = local.find_mpiexec({})
    assert beside.endswith("/mpiexec") and os.access(beside, os.X_OK)
