"""A capacity search submitted to the real single-node Slurm cluster: one array task per
combination runs its bisection inside its allocation (each probe a job step); a task killed
mid-search resumes from its recorded probes; the report job reports the boundaries."""

from __future__ import annotations

import subprocess
import time

import pytest
from cluster_support import cancel_leftovers, job_ids, memsweep, require_cluster
from executor_support import REPO

from results.load import load_records
from results.search_outcome import load_outcomes

pytestmark = [pytest.mark.slurm, pytest.mark.slow]
CPU_LOCAL = str(REPO / "slurm" / "profiles" / "cpu-local.toml")
WATCH = ("--watch", "--interval", "3")
SWEEP = """
[sweep]
name = "search-slurm"
warmup_steps = 1
timed_steps = 1
timeout_s = 300
host_mem_cap = "560MiB"
deepspeed_base = "ds.json"

[axes]
world_size = 2
micro_batch = 2
seq_len = 32
zero_stage = [0, 3]

[search]
axis = "model"
from = "small"
to = "base"
resolution = 0.25
"""
# The buckets of the demo's capacity sweep, scaled to CPU-scale models.
DS = (REPO / "suite" / "sweeps" / "capacity_ds.json").read_text()


def test_a_submitted_search_killed_and_resumed_ends_with_one_outcome_per_combination(
        tmp_path):
    require_cluster()
    (tmp_path / "ds.json").write_text(DS)
    (tmp_path / "s.toml").write_text(SWEEP)
    out = tmp_path / "out"
    try:
        sub = memsweep("submit", str(tmp_path / "s.toml"), "--profile", CPU_LOCAL,
                       "--out", str(out))
        assert sub.returncode == 0, sub.stderr
        script = (out / "slurm-array.sh").read_text()
        assert "-m slurm.search_task" in script and "#SBATCH --array=0-1" in script
        deadline = time.monotonic() + 900
        while len(list((out / "runs").glob("*.json"))) < 2:  # two probes recorded
            assert time.monotonic() < deadline, "no probe recorded in 15 min"
            time.sleep(2)
        first = job_ids(out)
        subprocess.run(["scancel", first["array_job_id"], first["report_job_id"]],
                       check=True, timeout=60)
        time.sleep(5)
        kept = {r.run_id: r.attempt for r in load_records(out)[0] if r.status in ("ok", "oom")}
        assert kept
        resumed = memsweep("submit", "--resume", str(out))
        assert resumed.returncode == 0, resumed.stderr
        watch = memsweep("status", str(out), *WATCH, timeout_s=1500)
    finally:
        cancel_leftovers(out)
    print(watch.stdout)
    assert watch.returncode == 0, watch.stdout + watch.stderr
    assert "searches:" in watch.stdout
    outcomes = load_outcomes(out)
    assert len(outcomes) == 2
    assert all(o.status in ("found", "all_fit", "none_fit") for o in outcomes)
    records = {r.run_id: r for r in load_records(out)[0]}
    for run_id, attempt in kept.items():  # recorded probes were reused, not run again
        assert records[run_id].attempt == attempt
    for o in outcomes:
        for p in o.probes:
            assert records[p.run_id].status == p.status
            fp = records[p.run_id].fingerprint
            if not p.reused:
                assert fp.get("slurm_job_id") or fp.get("slurm_array_job_id")
    ids = job_ids(out)
    report = out / "logs" / f"slurm-report-{ids['report_job_id']}.out"
    assert f"report: {out / 'report.pdf'}" in report.read_text()
