"""The memory-throughput Pareto front of the strategies, per model size and hardware.

A strategy is on the front when no other strategy of the same setup has a
peak memory at most its own and a throughput at least its own, one of them
strictly better. Points are the strategies' medians (analysis/baseline.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.tidy import setup_keys


def pareto_table(med: pd.DataFrame) -> pd.DataFrame:
    """The strategy_medians `med` of the strategies with ok runs, plus `on_front` per setup."""
    keys = setup_keys(med)
    med = med[(med["status"] == "ok") & med["peak"].notna() & med["samples_per_s"].notna()]
    # each setup's rows as positions in two arrays, not a DataFrame and two Series per setup
    # (486 medians at 100k records: 20-24 -> 4-7 ms)
    peak, speed = med["peak"].to_numpy(), med["samples_per_s"].to_numpy()
    front = np.zeros(len(med), dtype=bool)
    for at in med.groupby(keys, dropna=False, sort=False).indices.values():
        front[at[_front_positions(peak[at], speed[at])]] = True
    return med.assign(on_front=front).reset_index(drop=True)


def on_front(memory: pd.Series, throughput: pd.Series) -> list:
    """Index labels of the points not dominated (less memory and more throughput is better);
    `memory` and `throughput` hold the same points in the same order."""
    at = np.asarray(_front_positions(memory.to_numpy(), throughput.to_numpy()), dtype=int)
    return memory.index[at].tolist()


def _front_positions(memory: np.ndarray, throughput: np.ndarray) -> list[int]:
    """on_front of two arrays: the positions of the points not dominated."""
    order = sorted(range(len(memory)), key=lambda i: (memory[i], -throughput[i]))
    front, best = [], float("-inf")
    for i in order:
        if throughput[i] > best:
            front.append(i)
            best = throughput[i]
        elif throughput[i] == best and memory[i] == memory[front[-1]]:
            front.append(i)  # the same point twice: neither dominates the other
    return front
