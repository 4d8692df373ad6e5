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
    # one groupby of the keys numbers the groups; their world sizes are counted by those
    # numbers (a second groupby of the keys was half of the 15 ms at 486 medians). A group
    # is kept or left whole: the numbers keep the kept groups' order of appearance.
    group = med.groupby(keys, dropna=False, sort=False).ngroup().to_numpy()
    kept = (med["world_size"].groupby(group).transform("nunique") >= 2).to_numpy()
    med, group = med[kept], group[kept]
    if med.empty:
        return pd.DataFrame()
    # each group's rows together, smallest world size first; the ratios to that first row
    # (whole columns at once: a loop over the groups costs seconds with many setups)
    order = np.argsort(group, kind="stable")
    med, group = med.iloc[order].reset_index(drop=True), group[order]
    first = np.r_[0, np.flatnonzero(np.diff(group)) + 1][np.unique(group, return_inverse=True)[1]]
    peak, speed, ranks = (med[c].to_numpy(dtype="float64")
                          for c in ("peak", "samples_per_s", "world_size"))
    with np.errstate(divide="ignore", invalid="ignore"):  # x/0 is inf or NaN, as in pandas
        return med.assign(memory_ratio=peak / peak[first],
                          efficiency=(speed / speed[first]) / (ranks / ranks[first]))
