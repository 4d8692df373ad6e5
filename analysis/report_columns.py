"""The frame's columns the report never reads, left out of the report's frame.

A million-row frame is about 1.3 GB, and the report copies what it filters (the
ok runs, a setup's rows): without these 50 columns (the per-phase and predicted
breakdowns, the OOM details, FLOP/s, versions, log paths), a third less to load,
hold and copy. A column is left out by name: any other (a scenario parameter the
catalogue does not know) stays. tests/analysis/test_report_columns.py checks that
no analysis module names one of them.
"""

from __future__ import annotations

import pandas as pd

UNREAD: tuple[str, ...] = (
    "attempt", "repetition", "finished_at", "duration_s", "log_path", "torch_version",
    "deepspeed_version", "n_ranks", "tokens_per_s", "peak_device_allocated_bytes",
    "tensor_peak_ratio", "oom_phase", "oom_kind", "oom_requested_bytes", "oom_allocation",
    # of results/frame_peaks.py's: all but the tensor peak's breakdown and `stable`
    "tensor_peak_phase", "predicted_peak_phase",
    *(f"predicted_peak_{c}_bytes" for c in (
        "params", "grads", "master_params", "optimizer_state", "buffers", "activations",
        "temporaries", "other", "forward", "backward", "step")),
    *(f"tensor_peak_{c}_bytes" for c in ("init", "warmup", "forward", "backward", "step")),
    *(f"host_rss_{c}_bytes" for c in ("init", "warmup", "timed", "forward", "backward",
                                      "step")),
    "activation_bytes", "activation_peak_bytes", "predicted_activation_bytes", "step_time_cv",
    "flops_per_token", "tflops_per_rank", "peak_tflops", "mfu", "oom_rank",
    "oom_reached_bytes", "oom_limit_bytes",
)


def report_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` without the UNREAD columns (itself if it has none: `report_sources` left them
    out as it loaded)."""
    unread = set(UNREAD)
    if not unread.intersection(frame.columns):
        return frame
    return frame[[c for c in frame.columns if c not in unread]]
