"""The comparison maths on small frames: each value recomputed here from the frame's own rows."""

import pandas as pd
import pytest
from sweepdata import CONFIGS, make_record

from analysis.analysis import analyse
from analysis.labels import BASELINE
from analysis.pareto import on_front
from analysis.predicted import scenario_values
from results.frame import records_frame
from suite.models import MODELS
from suite.peak_model import budget_need, predict_peak
from suite.prediction import runtime_bytes


def frame_of(*specs, **common):
    return records_frame([make_record(**{**common, **s}) for s in specs])


def row(frame, **where):
    mask = pd.Series(True, index=frame.index)
    for k, v in where.items():
        mask &= frame[k] == v
    (found,) = frame[mask].itertuples()
    return found


@pytest.fixture
def smoke():
    """tiny and small, every ZeRO stage x offload, two repetitions (the second 2% slower)."""
    return records_frame([make_record(model=m, stage=s, offload=o, repetition=r,
                                      speed=1.0 - 0.02 * r)
                          for m in ("tiny", "small") for s, o in CONFIGS for r in (0, 1)])


def test_memory_saved_throughput_cost_and_loss_delta_against_the_baseline(smoke):
    table = analyse(smoke).vs_baseline
    assert BASELINE not in set(table["strategy"])
    assert len(table) == 2 * (len(CONFIGS) - 1)  # every other config, per model
    for got in table.itertuples():
        runs = smoke[(smoke["model"] == got.model) & (smoke["world_size"] == 2)]
        stage, off = _config(got.strategy)
        mine = runs[(runs["zero_stage"] == stage) & (runs["offload_optimizer"] == off)]
        base = runs[(runs["zero_stage"] == 0) & (runs["offload_optimizer"] == "none")]
        peak, base_peak = (float(x["peak_host_rss_bytes"].median()) for x in (mine, base))
        speed, base_speed = (float(x["samples_per_s"].median()) for x in (mine, base))
        assert got.memory_saved_pct == pytest.approx(100 * (1 - peak / base_peak))
        assert got.throughput_cost_pct == pytest.approx(100 * (1 - speed / base_speed))
        assert got.loss_delta == pytest.approx(-0.1 * stage)
    z3 = table[(table["model"] == "tiny") & (table["strategy"] == "zero_stage=3")].iloc[0]
    assert z3["throughput_cost_pct"] == pytest.approx(100 * (1 - 1 / 1.45))  # 1.45x the step
    assert z3["memory_saved_pct"] > 0


def _config(strategy: str) -> tuple[int, str]:
    parts = dict(p.split("=") for p in strategy.split(" + "))
    return int(parts.get("zero_stage", 0)), parts.get("offload_optimizer", "none")


def test_a_strategy_that_only_ran_out_of_memory_has_its_status_and_no_numbers():
    frame = frame_of({"stage": 0, "offload": "none"},
                     {"stage": 1, "offload": "cpu", "status": "oom"}, model="tiny")
    (got,) = analyse(frame).vs_baseline.itertuples()
    assert got.status == "oom" and got.baseline_status == "ok"
    assert pd.isna(got.memory_saved_pct) and pd.isna(got.throughput_cost_pct)


def test_each_setup_has_its_own_baseline():
    frame = frame_of(*({"stage": s, "offload": "none", "world": w, "partition": p}
                       for s in (0, 3) for w in (2, 4) for p in ("a", "b")), model="tiny")
    table = analyse(frame).vs_baseline
    assert len(table) == 4  # zero_stage=3 per world size and partition
    for got in table.itertuples():
        base = row(frame, zero_stage=0, world_size=got.world_size, partition=got.partition)
        assert got.baseline_peak == base.peak_host_rss_bytes


def test_largest_fitting_size_measured_then_predicted():
    specs = [{"model": m, "stage": s, "offload": "none",
              "status": "oom" if (m == "base" and s == 0) else "ok"}
             for m in ("tiny", "small", "base") for s in (0, 3)]
    frame = frame_of(*specs)
    z3_base = row(frame, model="base", zero_stage=3)
    values = scenario_values({a: getattr(z3_base, a) for a in ("model", "world_size",
                                                               "zero_stage", "device")})
    # the measured peak is host RSS here (no tensor peak): the runtime is in it
    overhead = z3_base.peak_host_rss_bytes - budget_need(values)
    predicted = {m: budget_need({**values, "model": m}) + overhead
                 for m in ("125m", "350m", "760m")}
    capacity = int((predicted["350m"] + predicted["760m"]) / 2)  # 350m fits, 760m does not
    table = analyse(frame, capacity=capacity).fits.set_index("strategy")
    assert table.at[BASELINE, "largest_measured"] == "small"
    assert table.at[BASELINE, "first_oom"] == "base"
    assert table.at[BASELINE, "basis"] == "measured"  # the largest size run failed: final
    assert table.at["zero_stage=3", "largest_measured"] == "base"
    assert table.at["zero_stage=3", "largest_predicted"] == "350m"
    assert table.at["zero_stage=3", "basis"] == "predicted"
    assert table.at["zero_stage=3", "predicted_peak"] == pytest.approx(predicted["350m"])
    unknown = analyse(frame).fits.set_index("strategy")  # CPU: no capacity, measured only
    assert unknown.at["zero_stage=3", "basis"] == "measured"
    assert pd.isna(unknown.at["zero_stage=3", "capacity"])


def test_largest_fitting_size_counts_the_budget_plan_predict_counts():
    """From a tensor peak on the CPU the extrapolation adds the runtime term, as
    `plan --predict` and the capacity search do (suite.peak_model.budget_need): a capacity
    between the tensor peak and the tensor peak plus the runtime does not fit."""
    frame = frame_of({"stage": 3, "offload": "none"}, model="tiny", tensor_peaks=True)
    values = scenario_values({"model": "tiny", "world_size": 2, "zero_stage": 3,
                              "device": "cpu"})
    tensor_peak = row(frame, model="tiny").tensor_peak_bytes  # the larger rank's
    overhead = tensor_peak + runtime_bytes(values, MODELS["tiny"].n_params) - budget_need(values)
    need = budget_need({**values, "model": "small"}) + overhead
    tensors_only = predict_peak({**values, "model": "small"}).peak_bytes
    assert need - tensors_only > 300 * 2**20  # the runtime term
    fits = analyse(frame, capacity=need).fits.iloc[0]
    assert fits["largest_predicted"] == "small" and fits["predicted_peak"] == pytest.approx(need)
    short = analyse(frame, capacity=(need + tensors_only) // 2).fits.iloc[0]
    assert short["basis"] == "measured"  # small does not fit once the runtime counts


def test_capacity_comes_from_the_gpu_name():
    frame = frame_of({"stage": 0, "offload": "none", "device": "cuda"}, model="tiny")
    assert analyse(frame).fits["capacity"].tolist() == [80 * 10**9]  # "H100 80GB HBM3"


def test_pareto_front_membership(smoke):
    table = analyse(smoke).pareto
    # on the CPU, offload adds host memory and time: dominated by the same stage without it
    assert set(table[table["on_front"]]["strategy"]) == {
        BASELINE, "zero_stage=1", "zero_stage=2", "zero_stage=3"}
    for _, setup in table.groupby("model"):
        for a in setup.itertuples():
            dominated = any(b.peak <= a.peak and b.samples_per_s >= a.samples_per_s
                            and (b.peak < a.peak or b.samples_per_s > a.samples_per_s)
                            for b in setup.itertuples())
            assert a.on_front == (not dominated)


def test_pareto_front_of_ties_and_a_lone_point():
    memory = pd.Series([1.0, 2.0, 2.0, 3.0, 1.0])
    speed = pd.Series([1.0, 3.0, 3.0, 2.0, 0.5])
    assert sorted(on_front(memory, speed)) == [0, 1, 2]
    assert on_front(pd.Series([5.0]), pd.Series([1.0])) == [0]


def test_scaling_relative_to_the_fewest_ranks():
    frame = frame_of(*({"stage": s, "offload": "none", "world": w}
                       for s in (0, 3) for w in (2, 4)), model="small")
    table = analyse(frame).scaling.set_index(["strategy", "world_size"])
    z3_2, z3_4 = (row(frame, zero_stage=3, world_size=w) for w in (2, 4))
    got = table.loc[("zero_stage=3", 4)]
    assert got["memory_ratio"] == pytest.approx(z3_4.peak_host_rss_bytes
                                                / z3_2.peak_host_rss_bytes)
    assert got["efficiency"] == pytest.approx(z3_4.samples_per_s / z3_2.samples_per_s / 2)
    assert table.loc[("zero_stage=3", 2), "memory_ratio"] == 1.0
    assert analyse(frame[frame["world_size"] == 2]).scaling.empty  # nothing varies
