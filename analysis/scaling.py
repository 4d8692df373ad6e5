"""How each strategy scales with the world size (ZeRO shards over the ranks).

Per setup without the world size, and strategy: the medians at each world
size, relative to the smallest world size run:

    memory ratio = peak per rank / peak per rank at the smallest world size
    efficiency   = (samples/s / samples/s at the smallest) / (N / N smallest)
"""

from __future__ import annotations

import pandas as pd

from analysis.baseline import strategy_medians
from analysis.memo import per_frame
from analysis.tidy import enrich, setup_keys


@per_frame
def scaling_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of strategies with ok runs at two or more world sizes; empty when none varies."""
    frame = enrich(frame)
    if "world_size" not in frame or frame["world_size"].nunique() < 2:
        return pd.DataFrame()
    keys = [c for c in setup_keys(frame) if c != "world_size"] + ["strategy"]
    med = strategy_medians(frame)
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
