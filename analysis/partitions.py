"""The same scenarios on several partitions: their medians side by side."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.tidy import one_value
from suite.axes import AXES


def hardware_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Medians per scenario parameters and partition, for the parameters run ok on 2+
    partitions."""
    params = [a for a in AXES if a in frame]
    # a parameter with one value in every row splits no group: grouping by the others alone
    # skips factorizing ~20 constant columns of 100k rows (~85 -> ~45 ms)
    keys = [p for p in params if not one_value(frame[p])]
    read = frame[[*keys, "partition", "strategy", "n_params", "peak_bytes", "samples_per_s",
                  "run_id"]]
    # the ok runs' groups, not a copy of the ok runs: of a large frame, half the memory and a
    # fifth of the time
    med = read.assign(_ok=frame["status"] == "ok").groupby(
        [*keys, "partition", "_ok"], dropna=False).agg(
        strategy=("strategy", "first"), n_params=("n_params", "max"),
        peak=("peak_bytes", "median"), samples_per_s=("samples_per_s", "median"),
        runs=("run_id", "size")).reset_index()
    med = med[med.pop("_ok").astype(bool)].reset_index(drop=True)
    med = med[_partitions_run(med, keys) >= 2].reset_index(drop=True)
    for i, p in enumerate(params):  # the constant ones back, in their place
        if p not in keys:
            med.insert(i, p, frame[p].array.take(np.zeros(len(med), dtype=np.intp)))
    return med


def _partitions_run(med: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Per row of `med`: on how many partitions its scenario ran ok. Grouped by the
    parameters that vary alone (the constant ones split no group: 28 -> 6 keys, ~7 -> ~2 ms
    at 100k records)."""
    if not keys:  # one scenario
        return pd.Series(med["partition"].nunique(), index=med.index)
    return med.groupby(keys, dropna=False)["partition"].transform("nunique")
