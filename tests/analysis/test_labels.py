import pandas as pd
import pytest
from sweepdata import make_record

from analysis.analysis import Analysis, analyse
from analysis.labels import BASELINE, BASELINE_COLOR, PALETTE, strategy_colors, strategy_labels
from analysis.tidy import enrich
from results.frame import records_frame


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
    assert pd.api.types.is_object_dtype(frame["color"])


def test_an_analysis_is_of_a_frame_with_the_analysis_columns():
    frame = records_frame([make_record(model="tiny", stage=3, offload="none")])
    with pytest.raises(ValueError, match="analyse"):
        Analysis(frame=frame)  # not enriched: build it with analyse(frame)
    a = analyse(frame, capacity=2**30)
    assert list(a.frame["strategy"]) == ["zero_stage=3"]
    assert a.vs_baseline is a.vs_baseline  # computed once, then kept
    assert a.of(a.frame.iloc[:0]).capacity == 2**30
