"""Each strategy against the sweep's baseline at the same model size and hardware.

The baseline of a run is the runs of the same sweep, partition and workload
(model, world size, device, micro-batch, sequence length, gradient
accumulation) whose strategy axes are all at their defaults. Values are
medians over the ok runs (every night and repetition); percentages are
relative to the baseline's median:

    memory saved %     = 100 · (1 − peak / baseline peak)
    held saved %       = 100 · (1 − held / baseline held)   (model states, from the ledger)
    throughput cost %  = 100 · (1 − samples/s / baseline samples/s)
    loss delta         = final loss − baseline final loss
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.grouping import model_order
from analysis.labels import BASELINE
from analysis.tidy import hardware_keys, matching, ok_rows, one_value, setup_keys, statuses

VALUES = {"peak": "peak_bytes", "held": "held_bytes", "samples_per_s": "samples_per_s",
          "final_loss": "final_loss"}


def strategy_medians(frame: pd.DataFrame) -> pd.DataFrame:
    """Per setup and strategy of the enriched `frame`: ok runs, medians of VALUES, and the
    statuses when none is ok. The rows sorted by their keys' values, first key first, each
    key's values in the order they first appear in `frame` (as `statuses` unstacks them;
    `medians_of` gives the same order)."""
    keys = [*setup_keys(frame), "strategy"]
    if frame.empty:
        return pd.DataFrame(columns=[*keys, "runs", "status", *VALUES])
    # grouped by the keys that take several values only: one with one value in every row
    # splits nothing nor changes the order (7 of 11 at 100k rows: 128-133 -> 99-106 ms); put back
    split = [k for k in keys if not one_value(frame[k])] or keys
    ok = ok_rows(frame, [*split, *VALUES.values()]).groupby(split, dropna=False, sort=False)
    med = ok[list(VALUES.values())].median().astype("float64")
    med = med.rename(columns={v: k for k, v in VALUES.items()})
    med.insert(0, "runs", ok.size())
    out = pd.concat([statuses(frame, split).rename("status"), med], axis=1)
    out["runs"] = out["runs"].fillna(0).astype(int)
    out = out.reset_index()
    for i, k in enumerate(keys):
        if k not in split:  # in its place, of the frame's type
            out.insert(i, k, frame[k].array.take(np.zeros(len(out), dtype=np.intp)))
    return out


def medians_of(med: pd.DataFrame, frame: pd.DataFrame, setups: list[dict]) -> pd.DataFrame:
    """strategy_medians(frame), where `frame` holds every row of the `setups` (each a dict of
    keys and values, NaN matching NaN) of a frame whose strategy_medians are `med`: their rows
    of `med` (a median per setup and strategy depends on its own runs only), in the order
    strategy_medians(frame) gives them (and its column types, as `enrich` makes the keys: a
    key NaN in every row of `frame` is a string column's). Not computed again from the rows:
    the 100k report's 5 figures of a few setups, 190-260 -> 45-55 ms CPU."""
    keys = [*setup_keys(frame), "strategy"]
    if frame.empty:
        return strategy_medians(frame)
    mine = np.zeros(len(med), dtype=bool)
    for values in setups:
        mine |= matching(med, values).to_numpy()
    med = med[mine]
    # each key's values ranked as they first appear in `frame`; the rows sorted by those
    # ranks, first key first
    ranks = [pd.Index(frame[k].unique()).get_indexer(med[k]) for k in keys]
    return med.iloc[np.lexsort(ranks[::-1])].reset_index(drop=True)


def vs_baseline(med: pd.DataFrame) -> pd.DataFrame:
    """Of the strategy_medians `med`: one row per non-baseline strategy and setup that has a
    baseline (ok or not)."""
    keys = setup_keys(med)
    base = med[med["strategy"] == BASELINE].drop(columns=["strategy", "runs"])
    base = base.rename(columns={c: f"baseline_{c}" for c in ("status", *VALUES)})
    out = med[med["strategy"] != BASELINE].merge(base, on=keys, how="inner")
    out["memory_saved_pct"] = 100 * (1 - out["peak"] / out["baseline_peak"])
    out["held_saved_pct"] = 100 * (1 - out["held"] / out["baseline_held"])
    out["throughput_cost_pct"] = 100 * (1 - out["samples_per_s"] / out["baseline_samples_per_s"])
    out["loss_delta"] = out["final_loss"] - out["baseline_final_loss"]
    return out.reset_index(drop=True)


def reference_rows(table: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """Of a vs_baseline table: per hardware setup, the largest model whose baseline ran ok."""
    ok = table[table["baseline_status"] == "ok"]
    if ok.empty:
        return ok
    rank = {m: i for i, m in enumerate(model_order(frame))}
    keys = [k for k in hardware_keys(frame) if k in ok]
    biggest = ok.assign(_rank=ok["model"].map(rank)).groupby(keys, dropna=False)["_rank"] \
        .transform("max")
    return ok[ok["model"].map(rank) == biggest]
