import pandas as pd
from sweepdata import make_record

import suite.axes
from analysis.labels import (
    BASELINE,
    BASELINE_COLOR,
    PALETTE,
    strategy_axes,
    strategy_colors,
    strategy_label,
    strategy_labels,
    workload_axes,
)
from analysis.tidy import enrich
from results.frame import records_frame
from suite.axes import AXES


def test_the_strategy_axes_are_the_catalogues_and_the_rest_is_workload():
    assert set(strategy_axes()) | set(workload_axes()) == set(AXES)
    assert not set(strategy_axes()) & set(workload_axes())
    assert "zero_stage" in strategy_axes() and "model" in workload_axes()
    assert {"world_size", "device", "micro_batch", "seq_len", "grad_accum"} <= set(
        workload_axes())


def test_a_new_strategy_axis_needs_no_change_here(monkeypatch):
    axes = {**AXES, "pruning_ratio": suite.axes.Axis(name="pruning_ratio", type=float,
                                                     default=0.0, help="test axis")}
    monkeypatch.setattr(suite.axes, "AXES", axes)
    monkeypatch.setattr(suite.axes, "STRATEGY_AXES", (*suite.axes.STRATEGY_AXES,
                                                      "pruning_ratio"))
    assert strategy_label({"pruning_ratio": 0.5, "zero_stage": 3}) == \
        "zero_stage=3 + pruning_ratio=0.5"
    assert strategy_label({"pruning_ratio": 0.0}) == BASELINE


def test_labels_name_the_axes_away_from_their_defaults_in_catalogue_order():
    assert strategy_label({a.name: a.default for a in AXES.values()}) == BASELINE
    assert strategy_label({"offload_optimizer": "cpu", "zero_stage": 2}) == \
        "zero_stage=2 + offload_optimizer=cpu"
    # workload axes are never part of a strategy; a missing or NaN axis is at its default
    assert strategy_label({"model": "small", "world_size": 8, "precision": None}) == BASELINE
    assert strategy_label({"zero_stage": 3.0, "precision": float("nan")}) == "zero_stage=3"


def test_labels_of_a_frame_follow_each_row():
    frame = records_frame([make_record(model="tiny", stage=s, offload=o, world=w)
                           for s, o, w in ((0, "none", 2), (3, "cpu", 2), (0, "none", 4))])
    assert list(strategy_labels(frame)) == [BASELINE, "zero_stage=3 + offload_optimizer=cpu",
                                            BASELINE]


def test_colours_are_stable_across_frames_and_distinct_within_one():
    labels = [BASELINE, "zero_stage=1", "zero_stage=2", "zero_stage=3",
              "zero_stage=3 + offload_optimizer=cpu"]
    colors = strategy_colors(labels)
    assert colors[BASELINE] == BASELINE_COLOR
    assert len(set(colors.values())) == len(labels)
    assert set(colors.values()) - {BASELINE_COLOR} <= set(PALETTE)
    assert strategy_colors(list(reversed(labels))) == colors  # order given does not matter
    # a label alone keeps the colour it has among others unless two share a hash slot
    alone = {s: strategy_colors([s])[s] for s in labels}
    assert sum(alone[s] == colors[s] for s in labels) >= len(labels) - 1


def test_enrich_adds_the_analysis_columns():
    frame = enrich(records_frame([make_record(model="tiny", stage=3, offload="none"),
                                  make_record(model="tiny", stage=0, offload="none",
                                              device="cuda")]))
    assert list(frame["strategy"]) == ["zero_stage=3", BASELINE]
    assert list(frame["partition"]) == ["local", "local"]
    cpu, gpu = frame.iloc[0], frame.iloc[1]
    assert cpu["peak_bytes"] == cpu["peak_host_rss_bytes"]
    assert gpu["peak_bytes"] == gpu["peak_device_bytes"]
    assert cpu["held_bytes"] == sum(cpu[c] for c in ("params_bytes", "grads_bytes",
                                                     "master_params_bytes",
                                                     "optimizer_state_bytes"))
    assert enrich(frame) is frame  # idempotent
    assert pd.api.types.is_object_dtype(frame["color"])
