"""The tidy frame: one row per run record, columns documented in the README."""

from __future__ import annotations

import pandas as pd

from results.schema import RunRecord
from suite.models import MODELS

# Per-rank figures reported as the maximum over ranks (the rank that limits the job).
_MAX_OVER_RANKS = ("params_bytes", "grads_bytes", "master_params_bytes", "optimizer_state_bytes",
                   "peak_host_rss_bytes", "peak_device_allocated_bytes",
                   "peak_device_reserved_bytes")


def record_row(r: RunRecord) -> dict:
    params = r.scenario.get("params", {})
    spec = MODELS.get(params.get("model"))
    row = {
        "run_id": r.run_id, "attempt": r.attempt, "status": r.status, "sweep": r.sweep,
        "repetition": r.scenario.get("repetition"), **params,
        "n_params": spec.n_params if spec else None,
        "started_at": pd.Timestamp(r.started_at), "duration_s": r.duration_s,
        "reason": r.reason, "hostname": r.fingerprint.get("hostname"),
        "partition": r.fingerprint.get("partition"),
        "torch_version": r.fingerprint.get("torch"),
        "deepspeed_version": r.fingerprint.get("deepspeed"),
    }
    m = r.measurements
    row.update(step_time_s=m and m.step_time_s, step_time_iqr_s=m and m.step_time_iqr_s,
               samples_per_s=m and m.samples_per_s, tokens_per_s=m and m.tokens_per_s,
               final_loss=m and m.final_loss)
    for col in _MAX_OVER_RANKS:
        vals = [getattr(k, col) for k in r.ranks if getattr(k, col) is not None]
        row[col] = max(vals) if vals else None
    return row


def records_frame(records: list[RunRecord]) -> pd.DataFrame:
    frame = pd.DataFrame([record_row(r) for r in records])
    if frame.empty:
        return frame
    for col in ("step_time_s", "step_time_iqr_s", "samples_per_s", "tokens_per_s", "final_loss"):
        frame[col] = frame[col].astype("float64")
    for col in _MAX_OVER_RANKS:
        frame[col] = frame[col].astype("Int64")
    return frame
