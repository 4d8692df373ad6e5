"""`memsweep submit` and `memsweep status` on the real single-node Slurm cluster.

Every test submits real jobs (slurm/cluster/up.sh; `make test` brings it up, and a cluster
that is down fails these tests with how to bring it up). The fault tests run every fault
as one task of ONE array, so the slow ones (the time limit is a minute at least) overlap
nothing else and the whole file stays within a few minutes.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cluster_support import (
    calls,
    cancel_leftovers,
    counting_path,
    forgotten,
    job_ids,
    memsweep,
    require_cluster,
    require_forgetful,
)
from executor_support import REPO, records, to_toml

from reliability.cluster import FORGETFUL
from results.store import record_path
from slurm import submissions
from suite.plan import PLAN_FILE, Plan
from suite.sweep import Sweep, parse_sweep

pytestmark = pytest.mark.slurm

SLURM_STAND_IN = Path(__file__).with_name("slurm_stand_in.py")
CPU_LOCAL = str(REPO / "slurm" / "profiles" / "cpu-local.toml")
WATCH = ("--watch", "--interval", "3")

# One array task per fault, in plan order (the cluster runs them one after another: each
# asks for both CPUs of the node). A rank SIGKILLed from outside, the task process SIGKILLed,
# scancel and --time are faults of `memsweep faults --slurm` (tests/slurm/test_slurm_faults.py).
FAULTS = (
    "killed",  # 0: rank 1 SIGKILLs itself; srun --kill-on-bad-exit ends rank 0: failed
    "hog",     # 1: rank 1 allocates past --mem; the cgroup OOM killer ends it: oom
    "ok",      # 2: the tasks after the faults still run
)


@pytest.fixture(autouse=True)
def _cluster():
    require_cluster()


def stand_in_shim(folder: Path) -> Path:
    """A folder to submit from whose `jobs.worker` is the stand-in (tasks run in the submit
    folder, and `python -m` looks there first); the rest of `jobs` is the real package."""
    jobs = folder / "jobs"
    jobs.mkdir(parents=True)
    (jobs / "__init__.py").write_text(f"__path__.append({str(REPO / 'jobs')!r})\n")
    (jobs / "worker.py").write_text(
        f"import runpy\nrunpy.run_path({str(SLURM_STAND_IN)!r}, run_name='__main__')\n")
    return folder


def polls(watch: subprocess.CompletedProcess, sweep: str) -> int:
    """How many times `status --watch` looked (one table each)."""
    return watch.stdout.count(f"] sweep {sweep} in ")


def test_a_real_sweep_ends_with_one_ok_record_per_scenario_and_the_report(tmp_path):
    doc = {"sweep": {"name": "slurm-real", "warmup_steps": 1, "timed_steps": 2,
                     "timeout_s": 300},
           "axes": {"model": "tiny", "world_size": 2, "zero_stage": [0, 1]}}
    (tmp_path / "sweep.toml").write_text(to_toml(doc))
    path, log = counting_path(tmp_path / "bin")
    out = tmp_path / "out"
    t0 = time.monotonic()
    try:
        sub = memsweep("submit", str(tmp_path / "sweep.toml"), "--profile", CPU_LOCAL,
                       "--out", str(out), env={"PATH": path})
        assert sub.returncode == 0, sub.stderr
        ids = job_ids(out)
        assert f"array job:  {ids['array_job_id']} " in sub.stdout
        assert f"report job: {ids['report_job_id']} " in sub.stdout
        watch = memsweep("status", str(out), *WATCH, env={"PATH": path}, timeout_s=540)
    finally:
        cancel_leftovers(out)
    print(f"real sweep: {time.monotonic() - t0:.0f} s")
    assert watch.returncode == 0, watch.stdout + watch.stderr
    ok = records(parse_sweep(doc), out)
    assert [r.status for r in ok] == ["ok", "ok"]
    for index, r in enumerate(ok):
        assert r.attempt == 1 and r.measurements.step_time_s > 0
        assert r.fingerprint["launcher"] == "mpi"  # srun --mpi=pmi2 gave mpi4py its ranks
        assert r.fingerprint["partition"] == "debug"
        assert (r.fingerprint["slurm_array_job_id"], r.fingerprint["slurm_array_task_id"]) \
            == (ids["array_job_id"], str(index))
    report = out / "logs" / f"slurm-report-{ids['report_job_id']}.out"
    assert f"report: {out / 'report.pdf'}" in report.read_text()  # made by the report job
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")
    # Two sbatch calls for the sweep; one squeue per status poll (the report job's included).
    assert calls(log) == {"sbatch": 2, "squeue": polls(watch, "slurm-real") + 1}


@dataclass(frozen=True)
class Faults:
    out: Path
    shim: Path
    sweep: Sweep
    ids: dict
    watch: subprocess.CompletedProcess
    log: Path


@pytest.fixture(scope="module")
def faults(tmp_path_factory) -> Faults:
    """The fault sweep, submitted, faulted as FAULTS says, and waited for to the end."""
    require_cluster()
    root = tmp_path_factory.mktemp("faults")
    doc = {"sweep": {"name": "slurm-faults", "warmup_steps": 1, "timed_steps": 2,
                     "timeout_s": 600, "repetitions": len(FAULTS)},
           "axes": {"model": "tiny", "world_size": 2}}
    (root / "sweep.toml").write_text(to_toml(doc))
    (root / "faults.toml").write_text('[profile]\nname = "faults"\npartition = "debug"\n'
                                      'time = "1"\nmem = "1G"\n')
    shim = stand_in_shim(root / "shim")
    path, log = counting_path(root / "bin")
    env = {"PATH": path, "STAND_IN_BEHAVIOUR": ",".join(FAULTS)}
    sweep, out = parse_sweep(doc), root / "out"
    t0 = time.monotonic()
    try:
        sub = memsweep("submit", str(root / "sweep.toml"), "--profile", str(root / "faults.toml"),
                       "--out", str(out), cwd=shim, env=env)
        assert sub.returncode == 0, sub.stderr
        ids = job_ids(out)
        watch = memsweep("status", str(out), *WATCH, cwd=shim, env=env, timeout_s=540)
    finally:
        cancel_leftovers(out)
    print(f"fault sweep: {time.monotonic() - t0:.0f} s")
    return Faults(out=out, shim=shim, sweep=sweep, ids=ids, watch=watch, log=log)


def test_each_fault_ends_in_exactly_one_record_of_its_kind(faults):
    assert faults.watch.returncode == 1, faults.watch.stdout + faults.watch.stderr
    found = records(faults.sweep, faults.out)
    assert [r.status for r in found] == ["failed", "oom", "ok"]
    killed, oom, ok = found
    # A rank's SIGKILL ended the step at once (rank 0 alone would have slept 60 s).
    assert "srun: task 1: Killed" in killed.reason and "task 1: Killed" in killed.log_tail
    # the dead rank first (its pid from `scontrol listpids`, when the step listed it before the
    # rank died: a quick kill can beat the first listing); a SIGKILL is no OOM kill unless
    # the step's cgroup says so
    assert re.match(r"rank 1 (\(pid \d+\) )?killed by SIGKILL on host \S+ \(not counted as "
                    r"out of memory: ", killed.reason), killed.reason
    assert killed.duration_s < 60  # the 60 s rank 0 sleeps unharmed: the kill ended it
    assert "Out Of Memory" in oom.log_tail and "--mem" in oom.reason
    assert re.match(r"rank 1 (\(pid \d+\) )?killed by SIGKILL on host \S+: out of memory, the "
                    r"kernel's OOM killer ended it \(evidence: the Slurm step reported an OOM "
                    r"kill in its cgroup: ", oom.reason), oom.reason
    assert ok.measurements is not None
    assert {r.attempt for r in found} == {1}
    assert len(list((faults.out / "runs").glob("*.json"))) == len(FAULTS)
    report = faults.out / "logs" / f"slurm-report-{faults.ids['report_job_id']}.out"
    assert f"report: {faults.out / 'report.pdf'}" in report.read_text()
    assert (faults.out / "report.pdf").read_bytes().startswith(b"%PDF")


def test_a_sweep_of_any_size_takes_two_sbatch_calls_and_one_squeue_per_poll(faults):
    assert calls(faults.log) == {"sbatch": 2,
                                 "squeue": polls(faults.watch, "slurm-faults") + 1}
    header = [line for line in (faults.out / "slurm-array.sh").read_text().splitlines()
              if line.startswith("#SBATCH --array=")]
    assert header == [f"#SBATCH --array=0-{len(FAULTS) - 1}"]


def test_resume_reruns_only_the_runs_without_an_ok_record(faults, tmp_path):
    out, scenarios = faults.out, faults.sweep.scenarios
    kept = record_path(out, scenarios[2].run_id).read_bytes()
    path, log = counting_path(tmp_path / "bin")
    env = {"PATH": path, "STAND_IN_BEHAVIOUR": ",".join(["ok"] * len(FAULTS))}
    try:
        sub = memsweep("submit", "--resume", str(out), cwd=faults.shim, env=env)
        assert sub.returncode == 0, sub.stderr
        assert "#SBATCH --array=0-1\n" in (out / "slurm-array.sh").read_text()
        assert "#SBATCH --time=1\n" in (out / "slurm-array.sh").read_text()  # as submitted
        watch = memsweep("status", str(out), *WATCH, cwd=faults.shim, env=env, timeout_s=400)
    finally:
        cancel_leftovers(out)
    assert watch.returncode == 0, watch.stdout + watch.stderr
    found = records(faults.sweep, out)
    assert [(r.status, r.attempt) for r in found] == [("ok", 2), ("ok", 2), ("ok", 1)]
    assert [r.run_id for r in found] == [s.run_id for s in scenarios]
    assert record_path(out, scenarios[2].run_id).read_bytes() == kept
    subs = submissions.load(out)
    assert len(subs) == 2 and subs[-1].indices == (0, 1)
    assert subs[-1].attempts == (2, 2)
    # A folder with earlier jobs: one squeue to check none is still running, then 2 sbatch.
    assert calls(log) == {"sbatch": 2, "squeue": 1 + polls(watch, "slurm-faults") + 1}
    again = memsweep("submit", "--resume", str(out), env=env)
    assert again.returncode == 0 and "nothing to submit" in again.stdout


def test_a_job_slurm_no_longer_knows_is_recorded_missing(tmp_path):
    """Slurm forgets ended jobs after MinJobAge: a run without a record then is `missing`.
    The jobs are real and really forgotten: the forgetful cluster (up.sh --forgetful) keeps
    an ended job 2 s, where the two others keep theirs an hour for the other tests."""
    env = require_forgetful()
    doc = {"sweep": {"name": "slurm-gone", "timeout_s": 60},
           "axes": {"model": "tiny", "world_size": 2, "zero_stage": [0, 1]}}
    sweep, out = parse_sweep(doc), tmp_path / "out"
    out.mkdir()
    Plan.of(sweep).write(out / PLAN_FILE)
    # an array whose tasks end at once without a record (as a task killed before its first
    # word would), and a report job; both forgotten before anyone asks
    array = FORGETFUL.run("sbatch", "--parsable", "--array=0-1", "--output=/dev/null",
                          "--wrap=true", check=True).stdout.strip()
    report = FORGETFUL.run("sbatch", "--parsable", "--output=/dev/null", "--wrap=true",
                           check=True).stdout.strip()
    submissions.save(out, "slurm-gone", [submissions.Submission(
        array_job_id=array, report_job_id=report, indices=(0, 1), attempts=(1, 1),
        submitted_at=datetime.now(timezone.utc).isoformat())])
    forgotten(array, report)
    path, log = counting_path(tmp_path / "bin")
    first = memsweep("status", str(out), "--reconcile", env={"PATH": path, **env})
    assert first.returncode == 1, first.stdout + first.stderr
    found = records(sweep, out)
    assert [(r.status, r.attempt) for r in found] == [("missing", 1), ("missing", 1)]
    assert f"Slurm no longer knows job {array}_0" in found[0].reason
    second = memsweep("status", str(out), "--reconcile", env={"PATH": path, **env})
    assert second.returncode == 1 and records(sweep, out) == found  # exactly one record each
    assert calls(log) == {"squeue": 2}
