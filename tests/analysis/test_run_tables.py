from dataclasses import replace

import pandas as pd
import pytest
from sweepdata import FAILURES, make_record

from analysis import run_tables
from analysis.sources import load_sources
from analysis.tidy import enrich
from analysis.units import human_bytes, human_rate, human_seconds
from results.frame import records_frame


@pytest.fixture
def loaded(sweep_dir):
    sources = load_sources([sweep_dir])
    return replace(sources, frame=enrich(sources.frame))


def test_appendix_has_a_row_per_scenario_in_model_then_strategy_order(loaded):
    table = run_tables.appendix_table(loaded.frame)
    assert list(table["model"]) == ["tiny"] * 7 + ["small"] * 7
    assert table["strategy"][0] == "baseline"
    assert table["params"][0] == "561k"
    assert set(table["runs"]) == {"1"}


def test_appendix_shows_medians_in_human_units_and_dashes_when_none_is_ok(loaded):
    frame = loaded.frame
    table = run_tables.appendix_table(frame)
    row = frame[(frame["model"] == "tiny") & (frame["zero_stage"] == 0)].iloc[0]
    first = table.iloc[0]
    assert first["peak/rank"] == human_bytes(row["peak_host_rss_bytes"])
    assert first["samples/s"] == human_rate(row["samples_per_s"])
    failed = table[table["status"] == "failed"].iloc[0]
    assert failed["samples/s"] == "–" and failed["peak/rank"] == "–"


def test_appendix_aggregates_nights_and_repetitions():
    frame = records_frame([make_record(model="tiny", stage=0, offload="none", repetition=r,
                                       night=n, status="oom" if (r, n) == (1, "2026-11-26")
                                       else "ok")
                           for r in (0, 1) for n in ("2026-11-25", "2026-11-26")])
    (row,) = run_tables.appendix_table(enrich(frame)).itertuples()
    assert (row.runs, row.nights, row.status) == ("4", "2", "ok 3, oom 1")


def test_failures_are_grouped_per_scenario_with_reason_and_log_tail(loaded):
    failures = run_tables.failure_groups(loaded.frame)
    assert sorted(failures["status"]) == sorted(FAILURES.values())
    assert failures["log_tail"].str.endswith("connection reset by peer $x$").all()
    assert (failures["log_tail"].str.count("\n") == run_tables.LOG_LINES - 1).all()
    assert failures["config"][0] == "small · 2 ranks · baseline"  # as `memsweep run` names it
    repeated = records_frame([make_record(model="tiny", stage=1, offload="cpu",
                                          status="failed", night=n)
                              for n in ("2026-11-25", "2026-11-26")])
    (group,) = run_tables.failure_groups(enrich(repeated)).itertuples()
    assert group.runs == 2 and group.nights == "2026-11-25..2026-11-26 (2 nights)"


def test_status_counts_follow_the_schemas_order(loaded):
    counts = run_tables.status_counts(loaded.frame)
    assert counts.to_dict("records") == [{"status": "ok", "runs": 12},
                                         {"status": "oom", "runs": 1},
                                         {"status": "failed", "runs": 1}]
    assert run_tables.status_line(loaded.frame) == "14 runs: 12 ok, 1 oom, 1 failed"


def test_environment_table_leaves_out_per_run_entries(loaded):
    env = dict(run_tables.environment_table(loaded.fingerprints).itertuples(index=False))
    assert env["torch"] == "2.13.0+cpu" and env["cpu"] == "AMD EPYC 9554"
    assert "date" not in env  # a different value on every run


def test_partitions_table_names_each_partitions_hardware():
    frame = records_frame([make_record(model="tiny", stage=0, offload="none", device="cuda",
                                       partition=p) for p in ("a", "b")])
    table = run_tables.partitions_table(enrich(frame))
    assert list(table["partition"]) == ["a", "b"]
    assert set(table["GPU"]) == {"NVIDIA H100 80GB HBM3"}


@pytest.mark.parametrize(("value", "text"), [
    (0, "0 B"), (1536, "1.5 KiB"), (3 * 1024**3, "3 GiB"), (pd.NA, "–"), (None, "–")])
def test_human_bytes(value, text):
    assert human_bytes(value) == text


@pytest.mark.parametrize(("value", "text"), [
    (0.0123, "12.3 ms"), (13.9, "13.9 s"), (600, "10 min"), (float("nan"), "–")])
def test_human_seconds(value, text):
    assert human_seconds(value) == text
