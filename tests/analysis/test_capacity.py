"""The capacity searches' answer: the boundary table, the headline finding and the figure."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from analysis.capacity import capacity_table, capacity_view, within_one_step
from analysis.fig_capacity import capacity_figure
from analysis.findings import capacity_findings
from results.search_outcome import ProbeResult, SearchOutcome
from suite.axes import AXES, WORKLOAD_AXES
from suite.models import flops_per_token, model_spec
from suite.search import SearchSpec

SEARCH = SearchSpec(axis="model", family="gpt", lower="small", upper="125m", resolution=0.25)


def outcome(stage: int, ok_at: float, predicted_at: float) -> SearchOutcome:
    ladder = SEARCH.ladder()
    sizes = [SEARCH.size(v) for v in ladder]
    ok = max(i for i, s in enumerate(sizes) if s <= ok_at)
    pred = max(i for i, s in enumerate(sizes) if s <= predicted_at)
    combination = {k: a.default for k, a in AXES.items()} | {"world_size": 2,
                                                              "zero_stage": stage}

    def probe(i: int, status: str) -> ProbeResult:
        return ProbeResult(value=ladder[i], size=sizes[i], run_id=f"r{stage}{i}", status=status)

    return SearchOutcome(search_id=f"s{stage}", sweep="cap", axis="model",
                         combination=combination, label="x", budget_bytes=2**30,
                         resolution=0.25, predicted_value=ladder[pred],
                         predicted_size=sizes[pred], status="found",
                         last_ok=probe(ok, "ok"), first_failed=probe(ok + 1, "oom"),
                         probes=(probe(ok, "ok"), probe(ok + 1, "oom")))


def frame_of(outcomes: list[SearchOutcome]) -> pd.DataFrame:
    rows = [{"run_id": o.last_ok.run_id, "samples_per_s": 10.0 if o.combination["zero_stage"]
             else 20.0} for o in outcomes]
    return pd.DataFrame(rows)


def test_the_table_states_each_boundary_against_the_baselines():
    found = [outcome(0, 10e6, 11e6), outcome(3, 25e6, 40e6)]
    table = capacity_table(found, frame_of(found), WORKLOAD_AXES)
    base, z3 = table.iloc[0], table.iloc[1]
    assert base["strategy"] == "baseline" and z3["strategy"] == "zero_stage=3"
    assert z3["ratio"] == z3["boundary_size"] / base["boundary_size"]
    # FLOP/s at each boundary: samples/s x seq_len x the FLOPs per token of that model
    fpt = [flops_per_token(model_spec(r["boundary"]), 64) for _, r in table.iterrows()]
    assert base["speed"] == 1 and z3["speed"] == (10.0 * fpt[1]) / (20.0 * fpt[0])
    assert within_one_step(base, 0.25) is True and within_one_step(z3, 0.25) is False
    view = capacity_view(table)
    assert list(view["x baseline"]) == ["1x", f"{z3['ratio']:.2g}x"]


def test_the_first_finding_is_the_largest_boundary_against_the_baseline():
    found = [outcome(0, 10e6, 11e6), outcome(3, 25e6, 26e6)]
    table = capacity_table(found, frame_of(found), WORKLOAD_AXES)
    z3 = table.iloc[1]
    [f] = capacity_findings(Boundaries(table))
    assert f.values["best"] == "zero_stage=3" and f.values["ratio"] == z3["ratio"]
    assert f.text.startswith("Under 1 GiB per rank on 2 ranks")
    assert f"trains a {z3['ratio']:.2g}x larger model than the baseline" in f.text
    assert f"at {z3['speed']:.0%} of its training FLOP/s" in f.text
    assert "Each is within one resolution step of the analytical model's boundary." in f.text
    # every boundary with its ratio to the baseline's, not only the largest
    assert (f"Boundaries measured: baseline 10M parameters, zero_stage=3 25M parameters "
            f"({z3['ratio']:.2g}x the baseline).") in f.text


def test_a_missed_prediction_is_said_with_why():
    found = [outcome(0, 10e6, 11e6), outcome(3, 25e6, 60e6)]
    [f] = capacity_findings(Boundaries(capacity_table(found, frame_of(found), WORKLOAD_AXES)))
    assert "missed by more than one resolution step for zero_stage=3" in f.text


def test_zero3_below_zero2_is_explained_where_the_model_predicts_it():
    found = [outcome(0, 10e6, 10e6), outcome(2, 14e6, 14e6), outcome(3, 12e6, 12e6)]
    [f] = capacity_findings(Boundaries(capacity_table(found, frame_of(found), WORKLOAD_AXES)))
    assert "ZeRO-3 stays below ZeRO-2, as the analytical model predicts" in f.text
    found = [outcome(0, 10e6, 10e6), outcome(2, 14e6, 14e6), outcome(3, 12e6, 20e6)]
    [f] = capacity_findings(Boundaries(capacity_table(found, frame_of(found), WORKLOAD_AXES)))
    assert "ZeRO-3 stays below" not in f.text  # a prediction that disagrees explains nothing


class Boundaries:
    """The one part of an Analysis the capacity findings read."""

    def __init__(self, table: pd.DataFrame) -> None:
        self.boundaries = table


def test_the_figure_draws_a_bar_and_a_predicted_mark_per_strategy():
    found = [outcome(0, 10e6, 11e6), outcome(3, 25e6, 40e6)]
    table = capacity_table(found, frame_of(found), WORKLOAD_AXES)
    fig = capacity_figure(table)
    gids = {a.get_gid() for ax in fig.axes for a in (*ax.patches, *ax.lines)}
    assert {"baseline/boundary", "zero_stage=3/boundary", "baseline/predicted",
            "zero_stage=3/predicted"} <= gids


def test_a_speed_timed_on_shared_cpus_is_unknown_not_a_figure():
    """On the CPU a run's FLOP/s is its own only if nothing else shared its CPUs while its
    steps were timed (the record's load average against its CPUs)."""
    found = [outcome(0, 10e6, 11e6), outcome(1, 20e6, 21e6), outcome(3, 25e6, 26e6)]
    frame = frame_of(found).assign(load_average=[2.1, 2.3, 6.2], cpus=[2, 2, 2])
    found = [replace(o, combination={**o.combination, "device": "cpu"}) for o in found]
    table = capacity_table(found, frame, WORKLOAD_AXES)
    z1, z3 = table.iloc[1], table.iloc[2]
    assert z1["speed"] > 0 and not z1["speed_note"]  # both quiet: a figure
    assert pd.isna(z3["speed"]) and "load 6.2 on 2" in z3["speed_note"]
    assert list(capacity_view(table)["FLOP/s vs baseline"])[2] == "unknown"
    [f] = capacity_findings(Boundaries(table))
    assert "training FLOP/s against the baseline's is unknown: timed while" in f.text
