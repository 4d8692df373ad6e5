import re

import pandas as pd
from sweepdata import MiB, make_record

import results.frame
from results import frame_peaks
from results.frame import COLUMNS, records_frame
from results.schema import OomInfo, PredictedMemory, replace
from suite.axes import AXES

REQUIRED = ("run_id", "status", "model", "n_params", "world_size", "zero_stage",
            "offload_optimizer", "precision", "optimizer", "micro_batch", "seq_len",
            "step_time_s", "samples_per_s", "tokens_per_s", "peak_host_rss_bytes",
            "peak_device_bytes", "params_bytes", "grads_bytes", "optimizer_state_bytes",
            "final_loss", "hostname")


def documented() -> list[str]:
    return re.findall(r"^\| (\w+) \|", results.frame.__doc__, flags=re.MULTILINE)


def peak_columns_documented() -> list[str]:
    """frame_peaks' table, a row such as `tensor_peak_<phase>_bytes` spelled out."""
    families = {"<category>": {"tensor_peak": frame_peaks.CATEGORIES,
                               "predicted_peak": frame_peaks.CATEGORIES},
                "<phase>": {"tensor_peak": frame_peaks.TENSOR_PHASES,
                            "predicted_peak": frame_peaks.PREDICTED_PHASES,
                            "host_rss": frame_peaks.RSS_PHASES}}
    out = []
    for name in re.findall(r"^\| ([\w<>]+) \|", frame_peaks.__doc__, flags=re.MULTILINE)[1:]:
        prefix, _, family = name.partition("_<")
        family = f"<{family.removesuffix('_bytes')}"
        out += ([f"{prefix}_{v}_bytes" for v in families[family][prefix]]
                if family in families else [name])
    return out


def test_every_column_is_documented_in_order():
    # [0] is the header row; the axes are one row for all ("each axis"), in AXES order
    assert documented()[1:] + peak_columns_documented() == [c for c in COLUMNS
                                                             if c not in AXES]
    assert [c for c in COLUMNS if c in AXES] == list(AXES)
    assert set(REQUIRED) <= set(COLUMNS)


def test_per_rank_figures_are_the_max_over_ranks():
    record = make_record(model="tiny", stage=3, offload="none", device="cuda")
    row = records_frame([record]).iloc[0]
    assert row["peak_host_rss_bytes"] == max(k.peak_host_rss_bytes for k in record.ranks)
    assert row["peak_device_bytes"] == max(k.peak_device_allocated_bytes for k in record.ranks)
    assert row["peak_device_bytes"] == row["peak_device_allocated_bytes"]
    assert row["peak_device_reserved_bytes"] == 128 * MiB
    assert row["n_params"] > 0 and row["n_ranks"] == 2


def test_failed_record_has_empty_measurements_and_its_log():
    frame = records_frame([make_record(model="tiny", stage=1, offload="cpu", status="failed")])
    row = frame.iloc[0]
    assert pd.isna(row["step_time_s"]) and pd.isna(row["peak_host_rss_bytes"])
    assert "RuntimeError" in row["log_tail"] and row["reason"].startswith("failed")


def test_frame_of_no_records_still_has_the_columns():
    frame = records_frame([])
    assert frame.empty and list(frame.columns) == list(COLUMNS)


def test_cpu_records_have_no_device_peak_and_times_are_utc():
    frame = records_frame([make_record(model="tiny", stage=0, offload="none")])
    assert frame["peak_device_bytes"].isna().all()
    assert str(frame["started_at"].dt.tz) == "UTC"


def test_predicted_peak_ratio_and_oom_columns():
    record = make_record(model="tiny", stage=2, offload="none")
    ranks = tuple(replace(k, tensor_peak_bytes=1050, predicted=PredictedMemory(
        model="deepspeed", params_bytes=0, grads_bytes=0, master_params_bytes=0,
        optimizer_state_bytes=0, activation_bytes=0, peak_bytes=1000 + 100 * k.rank))
        for k in record.ranks)
    row = records_frame([replace(record, ranks=ranks)]).iloc[0]
    assert row["predicted_peak_bytes"] == 1000 + 100 * (len(ranks) - 1)
    assert row["tensor_peak_ratio"] == 1.05  # the rank farthest from 1
    oom = make_record(model="tiny", stage=2, offload="none", status="oom")
    oom = replace(oom, oom=OomInfo(rank=0, phase="backward", kind="host",
                                   requested_bytes=2 * 10**9, allocation="reduce bucket"))
    row = records_frame([oom]).iloc[0]
    assert (row["oom_phase"], row["oom_allocation"]) == ("backward", "reduce bucket")
    assert row["oom_requested_bytes"] == 2 * 10**9
