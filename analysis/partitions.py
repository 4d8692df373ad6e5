"""The same scenarios on several partitions: their medians side by side."""

from __future__ import annotations

import pandas as pd

from analysis.tidy import ok_rows
from suite.axes import AXES


def hardware_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Medians per scenario parameters and partition, for the parameters run ok on 2+
    partitions."""
    params = [a for a in AXES if a in frame]
    ok = ok_rows(frame, [*params, "partition", "strategy", "n_params", "peak_bytes",
                         "samples_per_s", "run_id"])
    med = ok.groupby([*params, "partition"], dropna=False).agg(
        strategy=("strategy", "first"), n_params=("n_params", "max"),
        peak=("peak_bytes", "median"), samples_per_s=("samples_per_s", "median"),
        runs=("run_id", "size")).reset_index()
    shared = med.groupby(params, dropna=False)["partition"].transform("nunique") >= 2
    return med[shared].reset_index(drop=True)
