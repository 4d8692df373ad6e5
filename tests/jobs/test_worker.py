"""The worker for real: MPI ranks from mpiexec running DeepSpeed ZeRO on the CPU (gloo).

The ledger figures asserted here are what DeepSpeed 0.19.8 holds for model `tiny`
(Psi = 560,640 fp32 parameters, so 4 Psi bytes is the whole model) on 2 ranks.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.dist import shm_buffer_path
from results.load import load_records
from suite.models import model_spec
from suite.plan_table import plan_json
from suite.sweep import parse_sweep

REPO = Path(__file__).resolve().parents[2]
MPIEXEC = Path(sys.executable).with_name("mpiexec")  # the MPI that mpi4py is built against
TINY = model_spec("tiny")
FULL = 4 * TINY.n_params  # fp32 bytes of every parameter: Psi x 4
HALF = FULL // 2
# Partitions are exact halves here (DeepSpeed pads a flat group to a multiple of
# 2 x world_size elements and tiny's Psi is one); the slack is room for that padding and
# torch AdamW's 4-byte step counter per tensor: 1 KiB, under 0.1 % of a half.
PAD = 1024
# Between micro-steps ZeRO-2 keeps whole every parameter that overlaps its partition, so a
# rank holds up to one parameter more than half; the largest one is the embedding (V x d).
STRADDLE = 4 * TINY.vocab_size * TINY.d_model

pytestmark = pytest.mark.slow


def write_plan(path: Path, axes: dict) -> list:
    sweep = parse_sweep({"sweep": {"name": "worker-test", "warmup_steps": 1, "timed_steps": 3},
                         "axes": {"model": "tiny", "world_size": 2, **axes}})
    path.write_text(plan_json(sweep))
    return list(sweep.scenarios)


def launch(ranks: int, plan: Path, index: int, out: Path, timeout: int = 600):
    cmd = [str(MPIEXEC), "-n", str(ranks), sys.executable, "-m", "jobs.worker",
           "--plan", str(plan), "--index", str(index), "--out", str(out)]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)


# (zero_stage, grad_accum, offload_optimizer) of the runs the module makes, ~10 s each.
RUNS = [(0, 2, "none"), (1, 2, "none"), (2, 2, "none"), (3, 2, "none"), (1, 1, "none"),
        (2, 1, "cpu")]


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("worker")
    plan = out / "plan.json"
    scenarios = write_plan(plan, {"zero_stage": [0, 1, 2, 3], "grad_accum": [2, 1],
                                  "offload_optimizer": ["none", "cpu"]})
    for run in RUNS:
        index = next(i for i, s in enumerate(scenarios)
                     if (s["zero_stage"], s["grad_accum"], s["offload_optimizer"]) == run)
        done = launch(2, plan, index, out)
        assert done.returncode == 0, f"{run}: exit {done.returncode}\n{done.stderr[-3000:]}"
        addr, port = re.search(r"store (\S+):(\d+)", done.stdout).groups()
        SHM_LEFT.extend(p for rank in (0, 1)
                        if (p := shm_buffer_path(rank=rank, addr=addr, port=int(port))).exists())
    found, bad = load_records(out)
    assert not bad
    return {(r.scenario["params"]["zero_stage"], r.scenario["params"]["grad_accum"],
             r.scenario["params"]["offload_optimizer"]): r for r in found}


SHM_LEFT: list[Path] = []  # DeepSpeed shared-memory buffers a finished run left in /dev/shm


def test_runs_leave_no_shared_memory_buffers_behind(records):
    assert len(records) == len(RUNS)
    assert SHM_LEFT == []


def per_rank(record, field: str) -> list[int]:
    return [getattr(k, field) for k in record.ranks]


def near(values: list[int], expected: int, slack: int) -> bool:
    return all(abs(v - expected) <= slack for v in values)


def test_every_run_is_ok_and_measured_on_both_ranks(records):
    assert set(records) == set(RUNS)
    for run, r in records.items():
        assert r.status == "ok", run
        assert [k.rank for k in r.ranks] == [0, 1]
        m = r.measurements
        assert len(m.step_times_s) == 3 and all(t > 0 for t in m.step_times_s)
        assert m.step_time_s > 0 and m.samples_per_s > 0 and m.tokens_per_s > 0
        assert math.isfinite(m.final_loss) and 0 < m.final_loss < 20  # ~ln(1024) at the start
        assert all(k.peak_host_rss_bytes > 0 and k.step_time_s > 0 for k in r.ranks)
        assert all(k.peak_device_allocated_bytes is None for k in r.ranks)  # CPU run
        assert r.fingerprint["launcher"] == "mpi" and r.fingerprint["deepspeed"]


def test_zero_partitions_memory_not_arithmetic(records):
    # Same seed, same data, same steps: every stage (and offload) ends at the same loss.
    losses = [r.measurements.final_loss for r in records.values()]
    assert max(losses) - min(losses) < 1e-5 * max(losses), losses


def test_stage_0_holds_everything_on_every_rank(records):
    r = records[0, 2, "none"]
    assert per_rank(r, "params_bytes") == [FULL, FULL]
    assert per_rank(r, "grads_bytes") == [FULL, FULL]
    assert per_rank(r, "master_params_bytes") == [0, 0]  # fp32: the model is the master
    assert near(per_rank(r, "optimizer_state_bytes"), 2 * FULL, PAD)  # Adam m and v: 8 Psi


def test_optimizer_states_halve_from_stage_0_to_1(records):
    s0, s1 = records[0, 2, "none"], records[1, 2, "none"]
    assert near(per_rank(s1, "optimizer_state_bytes"), max(per_rank(s0, "optimizer_state_bytes"))
                // 2, PAD)
    assert near(per_rank(s1, "master_params_bytes"), HALF, PAD)  # fp32 copy of the partition
    assert per_rank(s1, "params_bytes") == [FULL, FULL]
    # With accumulation ZeRO-1 keeps every gradient whole until the boundary micro-step.
    assert per_rank(s1, "grads_bytes") == [FULL, FULL]


def test_gradients_halve_again_at_stage_2(records):
    s1, s2 = records[1, 2, "none"], records[2, 2, "none"]
    assert all(HALF <= g <= HALF + STRADDLE for g in per_rank(s2, "grads_bytes"))
    assert max(per_rank(s2, "grads_bytes")) < 0.65 * min(per_rank(s1, "grads_bytes"))
    assert per_rank(s2, "optimizer_state_bytes") == per_rank(s1, "optimizer_state_bytes")
    assert per_rank(s2, "params_bytes") == [FULL, FULL]


def test_parameters_halve_at_stage_3(records):
    s2, s3 = records[2, 2, "none"], records[3, 2, "none"]
    assert near(per_rank(s3, "params_bytes"), max(per_rank(s2, "params_bytes")) // 2, PAD)
    assert near(per_rank(s3, "grads_bytes"), HALF, PAD)
    assert near(per_rank(s3, "master_params_bytes"), HALF, PAD)
    assert near(per_rank(s3, "optimizer_state_bytes"), FULL, PAD)


def test_stage_1_without_accumulation_keeps_only_its_gradient_partition(records):
    # DeepSpeed 0.19.8 reduces ZeRO-1's gradients at the end of backward into this rank's
    # partition and frees the rest: the full gradients exist only inside backward.
    assert near(per_rank(records[1, 1, "none"], "grads_bytes"), HALF, PAD)


def test_offload_keeps_the_partitions_on_the_host(records):
    r = records[2, 1, "cpu"]
    assert r.fingerprint["optimizer_impl"] == "DeepSpeedZeroOptimizer/DeepSpeedCPUAdam"
    assert per_rank(r, "params_bytes") == [FULL, FULL]
    assert near(per_rank(r, "grads_bytes"), HALF, PAD)  # the fp32 partition's host .grad
    assert near(per_rank(r, "master_params_bytes"), HALF, PAD)
    assert near(per_rank(r, "optimizer_state_bytes"), FULL, PAD)


def test_too_few_ranks_is_a_failed_record_and_exit_1(tmp_path):
    plan = tmp_path / "plan.json"
    (scenario,) = write_plan(plan, {})
    done = launch(1, plan, 0, tmp_path, timeout=300)
    assert done.returncode == 1, done.stderr[-3000:]
    (record,), bad = load_records(tmp_path)
    assert not bad and record.run_id == scenario.run_id
    assert record.status == "failed" and record.measurements is None and record.ranks == ()
    assert "needs world_size 2" in record.reason and "started 1 rank" in record.reason
    assert "Traceback" in record.log_tail


def test_too_many_ranks_aborts_them_all_after_rank_0_wrote_the_record(tmp_path):
    plan = tmp_path / "plan.json"
    write_plan(plan, {})
    done = launch(3, plan, 0, tmp_path, timeout=300)  # a hang would hit the timeout
    assert done.returncode != 0
    (record,), _ = load_records(tmp_path)
    assert record.status == "failed" and "started 3 rank" in record.reason



FAIL_ON_RANK_1 = """
import sys
import torch.distributed as dist
import jobs.train

def train(run, ranks, ctx):
    if ranks.rank == 1:
        raise RuntimeError("rank 1 broke")
    dist.barrier()  # rank 0 waits in a collective for the rank that failed
    raise AssertionError("rank 0 got past a barrier rank 1 never reached")

jobs.train.train = train
from jobs.worker import main
sys.exit(main())
"""


def test_a_rank_other_than_0_failing_aborts_the_job_instead_of_hanging(tmp_path):
    plan = tmp_path / "plan.json"
    write_plan(plan, {})
    driver = tmp_path / "driver.py"
    driver.write_text(FAIL_ON_RANK_1)
    done = subprocess.run([str(MPIEXEC), "-n", "2", sys.executable, str(driver), "--plan",
                           str(plan), "--index", "0", "--out", str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "worker: rank 1 failed" in done.stderr and "rank 1 broke" in done.stderr
    assert "got past a barrier" not in done.stderr + done.stdout
    # Rank 0, blocked in the collective, is aborted with the rest: no ok record, and as a rule
    # none at all (the launcher writes it from the log).
    records, bad = load_records(tmp_path)
    assert not bad and all(r.status == "failed" for r in records)
