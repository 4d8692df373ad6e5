"""How each strategy scales with the world size (ZeRO shards over the ranks).

Per setup without the world size, and strategy: the medians at each world
size, relative to the smallest world size run:

    memory ratio = peak per rank / peak per rank at the smallest world size
    efficiency   = (samples/s / samples/s at the smallest) / (N / N smallest)
"""

from __future__ import annotations

import pandas as pd

from analysis.tidy import setup_keys


def scaling_table(med: pd.DataFrame) -> pd.DataFrame:
    """Of the strategy_medians `med` (every run's setup and strategy): the strategies with ok
    runs at two or more world sizes; empty when the world size does not vary."""
    if "world_size" not in med or med["world_size"].nunique() < 2:
        return pd.DataFrame()
    keys = [c for c in setup_keys(med) if c != "world_size"] + ["strategy"]
    med = med[(med["status"] == "ok") & med["peak"].notna()].sort_values("world_size")
    parts = []
    for _, group in med.groupby(keys, dropna=False, sort=False):
        if group["world_size"].nunique() < 2:
            continue
        first = group.iloc[0]
        parts.append(group.assign(
            memory_ratio=group["peak"] / first["peak"],
            efficiency=(group["samples_per_s"] / first["samples_per_s"])
            / (group["world_size"] / first["world_size"])))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
