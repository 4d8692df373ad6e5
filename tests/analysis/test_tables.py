import pandas as pd
import pytest
from sweepdata import FAILURES, make_record, write_sweep

from analysis import tables
from analysis.units import human_bytes, human_rate, human_seconds
from results.frame import records_frame
from results.load import load_records


@pytest.fixture
def loaded(sweep_dir):
    records = load_records(sweep_dir)[0]
    return records, records_frame(records)


def test_summary_rows_follow_model_size_then_stage_then_offload(loaded):
    table = tables.summary_table(loaded[1])
    assert list(table["model"]) == ["tiny"] * 7 + ["small"] * 7
    assert list(table["ZeRO"][:7]) == ["0", "1", "1", "2", "2", "3", "3"]
    assert list(table["offload"][:3]) == ["none", "none", "cpu"]
    assert table["params"][0] == "561k"


def test_summary_shows_human_units_and_dashes_for_missing_values(loaded):
    frame = loaded[1]
    table = tables.summary_table(frame)
    row = frame[(frame["model"] == "tiny") & (frame["zero_stage"] == 0)].iloc[0]
    first = table.iloc[0]
    assert first["peak mem/rank"] == human_bytes(row["peak_host_rss_bytes"])
    assert first["peak mem/rank"].endswith("MiB")
    assert first["samples/s"] == human_rate(row["samples_per_s"])
    assert first["step time"] == human_seconds(row["step_time_s"])
    failed = table[table["status"] == "failed"].iloc[0]
    assert failed["samples/s"] == "–" and failed["peak mem/rank"] == "–"


def test_summary_adds_a_column_for_an_axis_that_varies(tmp_path):
    frame = records_frame([make_record(model="tiny", stage=0, offload="none", world=w)
                           for w in (2, 4)])
    assert list(tables.summary_table(frame)["world size"]) == ["2", "4"]


def test_failures_table_has_status_reason_and_last_log_lines(loaded):
    failures = tables.failures_table(loaded[1])
    assert sorted(failures["status"]) == sorted(FAILURES.values())
    assert failures["log_tail"].str.endswith("connection reset by peer $x$").all()
    assert (failures["log_tail"].str.count("\n") == tables.LOG_LINES - 1).all()
    assert failures["config"][0].startswith("small · ZeRO 0 · offload none · 2 ranks")


def test_status_counts_follow_the_schemas_order(loaded):
    counts = tables.status_counts(loaded[1])
    assert counts.to_dict("records") == [{"status": "ok", "runs": 12}, {"status": "oom", "runs": 1},
                                         {"status": "failed", "runs": 1}]


def test_environment_table_leaves_out_per_run_entries(tmp_path):
    records = write_sweep(tmp_path, models=("tiny",), device="cuda", corrupt=False)
    env = dict(tables.environment_table(records).itertuples(index=False))
    assert env["gpu"] == "NVIDIA H100 80GB HBM3" and env["torch"] == "2.13.0+cpu"
    assert "date" not in env


@pytest.mark.parametrize(("value", "text"), [
    (0, "0 B"), (1536, "1.5 KiB"), (3 * 1024**3, "3 GiB"), (pd.NA, "–"), (None, "–")])
def test_human_bytes(value, text):
    assert human_bytes(value) == text


@pytest.mark.parametrize(("value", "text"), [
    (0.0123, "12.3 ms"), (13.9, "13.9 s"), (600, "10 min"), (float("nan"), "–")])
def test_human_seconds(value, text):
    assert human_seconds(value) == text
