"""The capacity searches' answer: per strategy and setup, the largest value that ran `ok` within
the budget (measured by the search's probes), the predicted boundary, and what it costs.

One row per search outcome (results/search_outcome.py). `ratio` is the boundary over the
baseline's boundary in the same setup; `speed` the strategy's training FLOP/s at its boundary
over the baseline's at its own (FLOP/s, not samples/s, because the two boundaries are models
of different sizes: 6N + 12·L·h·s FLOPs per token, suite/models.py). On the CPU a speed is
the run's own only if nothing else shared its CPUs while its steps were timed: where either
boundary run was timed at a load above its CPUs, `speed` is unknown and `speed_note` says why
(a shared 2-core machine gave 71% and 122% for ZeRO-1 and ZeRO-2 at the same model, the same
computation, minutes apart).
"""

from __future__ import annotations

import pandas as pd

from analysis.shared_cpus import shared_note
from results.search_outcome import SearchOutcome
from suite.axes import AXES
from suite.models import flops_per_token, human_count, model_spec
from suite.scenario_name import BASELINE, strategy_label

COLUMNS = ("search_id", "sweep", "setup", "strategy", "axis", "resolution", "status", "reason",
           "budget_bytes",
           "boundary", "boundary_size", "first_failed", "first_failed_size",
           "first_failed_status", "predicted", "predicted_size", "probes", "reused",
           "samples_per_s", "flops_per_s", "load_average", "cpus", "device", "ratio", "speed",
           "speed_note")
_NOT_SETUP = ("model",)  # the setup is the combination's workload axes


def capacity_table(searches: list[SearchOutcome], frame: pd.DataFrame,
                   setup_axes: tuple[str, ...]) -> pd.DataFrame:
    """One row per search; `setup_axes` are the workload axes (suite/axes.py)."""
    rows = [_row(o, frame, setup_axes) for o in searches]
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    if table.empty:
        return table
    # One search per strategy and setup: a folder searched twice (another range, say) keeps
    # the one that probed most.
    table = (table.sort_values("probes", ascending=False, kind="stable")
             .drop_duplicates(["sweep", "setup", "strategy", "axis"])
             .sort_index().reset_index(drop=True))
    for _, cell in table.groupby(["sweep", "setup", "axis"], dropna=False):
        base = cell[cell["strategy"] == BASELINE]
        if base.empty or pd.isna(base["boundary_size"].iloc[0]):
            continue
        b = base.iloc[0]
        table.loc[cell.index, "ratio"] = cell["boundary_size"] / b["boundary_size"]
        if pd.notna(b["flops_per_s"]) and b["flops_per_s"] > 0:
            table.loc[cell.index, "speed"] = cell["flops_per_s"] / b["flops_per_s"]
        for i in cell.index:
            note = shared_note([table.loc[i], b])
            if note and i != b.name:
                table.loc[i, ["speed", "speed_note"]] = [None, note]
    return table


def _row(o: SearchOutcome, frame: pd.DataFrame, setup_axes: tuple[str, ...]) -> dict:
    setup = {k: o.combination[k] for k in setup_axes
             if k in o.combination and k not in (o.axis, *_NOT_SETUP)}
    ok, failed = o.last_ok, o.first_failed
    run = frame[frame["run_id"] == ok.run_id] if ok is not None and "run_id" in frame else None
    samples = float(run["samples_per_s"].iloc[0]) if run is not None and len(run) else None
    load = {k: run[k].iloc[0] if run is not None and len(run) and k in run else None
            for k in ("load_average", "cpus")}
    flops = None
    if samples is not None:
        values = {**o.combination, o.axis: ok.value}
        spec = model_spec(str(values["model"]))
        flops = samples * int(values["seq_len"]) * flops_per_token(spec, int(values["seq_len"]))
    return {"search_id": o.search_id, "sweep": o.sweep, "setup": _describe(setup),
            "strategy": strategy_label(o.combination), "axis": o.axis,
            "resolution": o.resolution, "status": o.status,
            "reason": o.reason, "budget_bytes": o.budget_bytes,
            "boundary": ok.value if ok else None, "boundary_size": ok.size if ok else None,
            "first_failed": failed.value if failed else None,
            "first_failed_size": failed.size if failed else None,
            "first_failed_status": failed.status if failed else None,
            "predicted": o.predicted_value, "predicted_size": o.predicted_size,
            "probes": len(o.probes), "reused": sum(p.reused for p in o.probes),
            "samples_per_s": samples, "flops_per_s": flops, **load,
            "device": o.combination.get("device"), "ratio": None, "speed": None,
            "speed_note": ""}


def _describe(setup: dict) -> str:
    """`2 ranks · micro-batch 2 · seq-len 32 · cpu`: the ranks, then what is not a default."""
    ranks = setup.get("world_size")
    parts = [f"{ranks} rank{'s' * (ranks != 1)}"] if ranks is not None else []
    parts += [f"{k.replace('_', '-')} {v}" for k, v in setup.items()
              if k not in ("world_size", "deepspeed_base", "kind", "device") and v != ""
              and not (k in AXES and v == AXES[k].default)]
    if setup.get("device"):
        parts.append(str(setup["device"]))
    return " · ".join(parts)


def within_one_step(row: pd.Series, resolution: float) -> bool | None:
    """Whether the measured boundary is within one resolution step of the predicted one (None
    where either is missing)."""
    if pd.isna(row["predicted_size"]) or pd.isna(row["boundary_size"]):
        return None
    if row["axis"] == "model":
        return bool(abs(row["boundary_size"] / row["predicted_size"] - 1) <= resolution * 1.0001)
    return bool(abs(row["boundary_size"] - row["predicted_size"]) <= resolution)


def capacity_view(table: pd.DataFrame) -> pd.DataFrame:
    """The table as the report prints it: sizes, ratios and percentages as text."""
    def size(row: pd.Series, col: str) -> str:
        v = row[col]
        if pd.isna(v):
            return ""
        return human_count(int(v)) if row["axis"] == "model" else str(int(v))

    return pd.DataFrame({
        "setup": table["setup"], "strategy": table["strategy"], "search": table["status"],
        "boundary (ok)": [size(r, "boundary_size") for _, r in table.iterrows()],
        "next up": [f"{size(r, 'first_failed_size')} {r['first_failed_status'] or ''}".strip()
                    for _, r in table.iterrows()],
        "predicted": [size(r, "predicted_size") for _, r in table.iterrows()],
        "probes": [f"{p} ({u} reused)" if u else str(p)
                   for p, u in zip(table["probes"], table["reused"], strict=True)],
        "x baseline": [f"{v:.2g}x" if pd.notna(v) else "" for v in table["ratio"]],
        "FLOP/s vs baseline": [f"{v:.0%}" if pd.notna(v) else (n or "").split(":")[0]
                               for v, n in zip(table["speed"], table["speed_note"], strict=True)],
    })
