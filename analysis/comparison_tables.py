"""The comparisons as display tables (strings in human units) for the report's pages.

Each takes the comparison's own table (analysis/baseline.py, fits.py, ...) and
the enriched frame it came from, and returns a DataFrame of strings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.grouping import describe
from analysis.run_tables import sorted_scenarios
from analysis.tidy import hardware_keys, one_value, varying
from analysis.units import DASH, human_bytes, human_rate


def pct(value: object, *, sign: bool = True) -> str:
    if pd.isna(value):
        return DASH
    return f"{value:+.1f}%" if sign else f"{value:.1f}%"


def _setup(table: pd.DataFrame, frame: pd.DataFrame, drop=()) -> list[str] | str:
    keys = varying(table, [k for k in hardware_keys(frame) if k in table and k not in drop])
    if not keys:
        return ""
    return [describe(dict(zip(keys, v, strict=True))) for v in
            table[keys].itertuples(index=False)]


def baseline_view(table: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    t = sorted_scenarios(table, setup_first=True)
    return pd.DataFrame({
        "setup": _setup(t, frame), "model": t["model"], "strategy": t["strategy"],
        "status": [s if b == "ok" else f"{s} (baseline {b})"
                   for s, b in zip(t["status"], t["baseline_status"], strict=True)],
        "peak/rank": t["peak"].map(human_bytes),
        "baseline peak": t["baseline_peak"].map(human_bytes),
        "memory saved": t["memory_saved_pct"].map(lambda v: pct(v, sign=False)),
        "samples/s": t["samples_per_s"].map(human_rate),
        "baseline samples/s": t["baseline_samples_per_s"].map(human_rate),
        "throughput cost": t["throughput_cost_pct"].map(lambda v: pct(v, sign=False)),
        "loss delta": t["loss_delta"].map(lambda v: DASH if pd.isna(v) else f"{v:+.3f}"),
    }).reset_index(drop=True)


def fits_view(table: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    t = sorted_scenarios(table, setup_first=True)
    return pd.DataFrame({
        "setup": _setup(t, frame), "strategy": t["strategy"],
        "largest measured": t["largest_measured"].fillna("nothing fits"),
        "first OOM": t["first_oom"].fillna(DASH),
        "largest predicted": t["largest_predicted"].fillna(DASH),
        "predicted peak": t["predicted_peak"].map(human_bytes),
        "capacity": t["capacity"].map(lambda c: "unknown" if pd.isna(c) else human_bytes(c)),
        "answer": [p if b == "predicted" else (m if isinstance(m, str) else "nothing fits")
                   for p, m, b in zip(t["largest_predicted"], t["largest_measured"],
                                      t["basis"], strict=True)],
        "basis": t["basis"],
    }).reset_index(drop=True)


def pareto_view(table: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    t = sorted_scenarios(table[table["on_front"]])
    return pd.DataFrame({
        "model": t["model"], "setup": _setup(t, frame), "strategy on the front": t["strategy"],
        "peak/rank": t["peak"].map(human_bytes), "samples/s": t["samples_per_s"].map(human_rate),
    }).reset_index(drop=True)


def scaling_view(table: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    t = sorted_scenarios(table)
    return pd.DataFrame({
        "model": t["model"], "setup": _setup(t, frame, drop=("world_size",)),
        "strategy": t["strategy"], "ranks": t["world_size"].astype(str),
        "peak/rank": t["peak"].map(human_bytes),
        "vs fewest ranks": t["memory_ratio"].map(lambda v: f"{v:.2f}×"),
        "samples/s": t["samples_per_s"].map(human_rate),
        "scaling efficiency": t["efficiency"].map(lambda v: pct(100 * v, sign=False)),
    }).reset_index(drop=True)


def hardware_view(table: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """One row per scenario: each partition's peak and samples/s, and the ratios to the first."""
    if table.empty:
        return pd.DataFrame()
    partitions = sorted(table["partition"].unique())
    params = [c for c in table.columns if c not in ("partition", "strategy", "n_params", "peak",
                                                    "samples_per_s", "runs")]
    # a parameter with one value in every row matches every row: the scenarios are grouped
    # and joined on the others alone (22 of 28 at 100k records) and it is put back after;
    # on all of them where fewer than two vary (one key groups into a flat Index, which
    # joins a one-level MultiIndex on nothing)
    keys = [c for c in params if not one_value(table[c])]
    if len(keys) < 2:
        keys = params
    wide = table.groupby(keys, dropna=False)[["strategy", "n_params"]].first()
    # the rows' index of the parameters built once, not by a set_index per partition
    # (which drops them from a copy of the table first): ~70 -> ~40 ms at 100k records
    scenario = pd.MultiIndex.from_frame(table[keys])
    for p in partitions:
        mine = (table["partition"] == p).to_numpy()
        values = table.loc[mine, ["peak", "samples_per_s"]].set_axis(scenario[mine])
        wide = wide.join(values.add_suffix(f"/{p}"))
    wide = wide.reset_index()
    for i, c in enumerate(params):  # the constant ones back, in their place
        if c not in keys:
            wide.insert(i, c, table[c].array.take(np.zeros(len(wide), dtype=np.intp)))
    wide = sorted_scenarios(wide)
    ref = partitions[0]
    out = {"model": wide["model"], "setup": _setup(wide, frame, drop=("partition",)),
           "strategy": wide["strategy"]}
    for p in partitions:
        out[f"{p} peak"] = wide[f"peak/{p}"].map(human_bytes)
        out[f"{p} samples/s"] = wide[f"samples_per_s/{p}"].map(human_rate)
    for p in partitions[1:]:
        out[f"{p}/{ref} speed"] = (wide[f"samples_per_s/{p}"] / wide[f"samples_per_s/{ref}"]) \
            .map(lambda v: DASH if pd.isna(v) else f"{v:.2f}×")
    return pd.DataFrame(out).reset_index(drop=True)


def text_table(table: pd.DataFrame) -> str:
    """`table` as left-aligned plain-text columns, for a terminal or a log."""
    cells = table.astype(str)
    widths = [max(len(str(c)), *(len(v) for v in cells[c])) for c in cells.columns]
    lines = [list(cells.columns), *cells.itertuples(index=False, name=None)]
    return "\n".join("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True))
                     .rstrip() for row in lines)


def regression_view(table: pd.DataFrame, *, only_flagged: bool = True) -> pd.DataFrame:
    """A comparison table (analysis/regress.py), regressions first, worst first."""
    # flagged: a verdict beyond the threshold; "noise unknown" rows are counted, not listed
    t = table[table["verdict"].isin(("regression", "better"))] if only_flagged else table
    if t.empty:
        return pd.DataFrame(columns=["verdict", "metric", "model", "strategy", "setup",
                                     "baseline", "new", "change", "threshold"])
    t = t.assign(_bad=(t["verdict"] != "regression"),
                 _size=-t["change"].abs().fillna(float("inf")))
    t = t.sort_values(["_bad", "_size"])
    setup = [describe({"partition": p, "world_size": n}) for p, n in
             zip(t["partition"], t["world_size"], strict=True)]

    def value(metric: str, v: object) -> str:
        if metric == "status" or isinstance(v, str):
            return str(v)
        return human_rate(v) if metric == "throughput" else human_bytes(v)

    return pd.DataFrame({
        "verdict": t["verdict"].str.upper().where(t["verdict"] == "regression", t["verdict"]),
        "metric": t["metric"], "model": t["model"], "strategy": t["strategy"], "setup": setup,
        "baseline": [value(m, v) for m, v in zip(t["metric"], t["baseline"], strict=True)],
        "new": [value(m, v) for m, v in zip(t["metric"], t["new"], strict=True)],
        "change": [pct(100 * v) for v in t["change"]],
        "threshold": [DASH if pd.isna(v) else f"±{100 * v:.1f}%" for v in t["threshold"]],
    }).reset_index(drop=True)
