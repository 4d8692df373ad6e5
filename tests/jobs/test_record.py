"""The run record from what the ranks sent, or from the error that ended the run."""

from __future__ import annotations

import math

import pytest

from jobs.rank_outcome import RankOutcome, classify
from jobs.record import failed_record, measurements, now, ok_record, rank_metrics
from results.schema import RankMetrics, RunRecord
from suite.errors import UserInputError
from suite.peak_model import predict_peak
from suite.plan import read_scenario
from suite.plan_table import plan_json
from suite.scenario import Scenario
from suite.sweep import parse_sweep

SCENARIO = Scenario.from_values(sweep="t", values={"world_size": 2, "micro_batch": 4,
                                                   "grad_accum": 2, "seq_len": 16})


def outcome(rank: int, times: list[float], loss: float) -> RankOutcome:
    metrics = RankMetrics(rank=rank, hostname="h", params_bytes=1, grads_bytes=2,
                          master_params_bytes=3, optimizer_state_bytes=4, peak_host_rss_bytes=5,
                          step_time_s=sorted(times)[1])
    return RankOutcome(metrics=metrics.to_json(), step_times_s=times, final_loss=loss,
                       optimizer_impl="AdamW")


def test_measurements_take_the_slowest_rank_per_step():
    m = measurements(SCENARIO, [outcome(0, [1.0, 4.0, 2.0], 3.0), outcome(1, [2.0, 1.0, 2.0], 5.0)])
    assert m.step_times_s == (2.0, 4.0, 2.0)
    assert m.step_time_s == 2.0
    assert m.samples_per_s == 2 * 4 * 2 / 2.0  # world x micro-batch x accumulation / step
    assert m.tokens_per_s == m.samples_per_s * 16
    assert m.final_loss == 4.0  # averaged over ranks


def test_a_diverged_loss_is_a_failure():
    with pytest.raises(FloatingPointError):
        measurements(SCENARIO, [outcome(0, [1.0, 1.0, 1.0], math.nan),
                                outcome(1, [1.0, 1.0, 1.0], 1.0)])


def test_ok_record_round_trips_through_the_schema():
    r = ok_record(SCENARIO, [outcome(0, [1.0, 1.0, 1.0], 1.0), outcome(1, [1.0, 1.0, 1.0], 1.0)],
                  attempt=2, started=now(), fingerprint={"hostname": "h"})
    assert (r.status, r.attempt, r.run_id, len(r.ranks)) == ("ok", 2, SCENARIO.run_id, 2)
    assert RunRecord.from_json(r.to_json()) == r


@pytest.mark.parametrize(("error", "status"), [
    (MemoryError(), "oom"),
    (RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate "
                  "memory: you tried to allocate 1 bytes"), "oom"),
    (type("OutOfMemoryError", (RuntimeError,), {})("CUDA out of memory. Tried"), "oom"),
    (ValueError("boom"), "failed"),
])
def test_classify(error, status):
    assert classify(error) == status


def test_failed_record_keeps_the_reason_and_the_traceback_tail():
    r = failed_record(SCENARIO, RuntimeError("it broke\nsecond line"), "x" * 10000 + "END",
                      attempt=1, started=now(), fingerprint={})
    assert r.status == "failed" and r.measurements is None
    assert r.reason.startswith("RuntimeError: it broke")
    assert r.log_tail.endswith("END") and len(r.log_tail) <= 4000
    assert RunRecord.from_json(r.to_json()) == r


@pytest.fixture
def plan(tmp_path):
    sweep = parse_sweep({"sweep": {"name": "p"}, "axes": {"zero_stage": [0, 1]}})
    path = tmp_path / "plan.json"
    path.write_text(plan_json(sweep))
    return path, sweep


def test_load_scenario_by_index_and_by_run_id(plan):
    path, sweep = plan
    assert read_scenario(path, index=1) == sweep.scenarios[1]
    assert read_scenario(path, run_id=sweep.scenarios[0].run_id) == sweep.scenarios[0]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"index": 2}, "outside the plan's 2 scenarios"),
    ({"index": -1}, "outside"),
    ({"run_id": "0123456789abcdef"}, "no scenario with run_id"),
    ({"run_id": "../etc"}, "not a valid name"),
])
def test_load_scenario_names_what_is_wrong(plan, kwargs, message):
    with pytest.raises(UserInputError, match=message):
        read_scenario(plan[0], **kwargs)


def test_load_scenario_from_a_missing_or_broken_file(tmp_path):
    with pytest.raises(UserInputError, match="no such plan file"):
        read_scenario(tmp_path / "none.json", index=0)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(UserInputError, match="not a readable JSON plan"):
        read_scenario(tmp_path / "bad.json", index=0)


def test_a_distillation_run_records_its_predicted_peak():
    """kind distill trains (a DeepSpeed engine): its ranks get the peak prediction, and the
    parameters' ratio counts the teacher the prediction counts with them."""
    scenario = Scenario.from_values(sweep="t", values={"kind": "distill", "teacher": "small",
                                                       "world_size": 2})
    m = RankMetrics(rank=0, hostname="h", params_bytes=10, grads_bytes=0, master_params_bytes=0,
                    optimizer_state_bytes=0, peak_host_rss_bytes=1, teacher_params_bytes=20)
    p = rank_metrics(scenario, m.to_json()).predicted
    assert p.peak_bytes == predict_peak(scenario.values, rank=0).peak_bytes
    assert p.ratios["params_bytes"] == 30 / p.params_bytes
