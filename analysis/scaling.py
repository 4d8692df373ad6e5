"""How each strategy scales with the world size (ZeRO shards over the ranks).

Per setup without the world size, and strategy: the medians at each world
size, relative to the smallest world size run:

    memory ratio = peak per rank / peak per rank at the smallest world size
    efficiency   = (samples/s / samples/s at the smallest) / (N / N smallest)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.tidy import setup_keys


def scaling_table(med: pd.DataFrame) -> pd.DataFrame:
    """Of the strategy_medians `med` (every run's setup and strategy): the strategies with ok
    runs at two or more world sizes; empty when the world size does not vary."""
    if "world_size" not in med or med["world_size"].nunique() < 2:
        return pd.DataFrame()
    keys = [c for c in setup_keys(med) if c != "world_size"] + ["strategy"]
    med = med[(med["status"] == "ok") & med["peak"].notna()].sort_values("world_size")
    med = med[med.groupby(keys, dropna=False, sort=False)["world_size"].transform("nunique")
              >= 2]
    if med.empty:
        return pd.DataFrame()
    # each group's rows together, smallest world size first; the ratios to that first row
    # (whole columns at once: a loop over the groups costs seconds with many setups)
    group = med.groupby(keys, dropna=False, sort=False).ngroup().to_numpy()
    med = med.iloc[np.argsort(group, kind="stable")].reset_index(drop=True)
    group = np.sort(group, kind="stable")
    first = np.r_[0, np.flatnonzero(np.diff(group)) + 1][np.unique(group, return_inverse=True)[1]]
    at_first = med.iloc[first].reset_index(drop=True)
    return med.assign(
        memory_ratio=med["peak"] / at_first["peak"],
        efficiency=(med["samples_per_s"] / at_first["samples_per_s"])
        / (med["world_size"] / at_first["world_size"]))
