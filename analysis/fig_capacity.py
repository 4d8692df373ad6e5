"""The capacity figure: per setup, each strategy's boundary found by search (bar), the predicted
boundary (mark) and the ratio to the baseline's boundary, with its cost in FLOP/s."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from analysis import fig_parts
from analysis.axes_layout import place
from analysis.labels import order, strategy_colors
from analysis.style import FAIL_COLOR, new_page, styled
from analysis.units import human_bytes
from suite.models import human_count

MAX_STRATEGIES = 12  # bars per panel; more go on panels of their own


def capacity_figure(table: pd.DataFrame, *, subtitle: str | None = None) -> Figure:
    """One panel per setup (of one axis): boundary bars, predicted marks, ratio texts."""
    axis = table["axis"].iloc[0]
    what = "model" if axis == "model" else axis.replace("_", "-")
    with styled():
        fig = new_page(f"Largest {what} that fits, found by search", subtitle)
        cells = [(setup, rows) for setup, rows in table.groupby("setup", sort=False)]
        colors = strategy_colors(order(table["strategy"]))
        titles = [_title(setup, rows) for setup, rows in cells]
        for ax, (_, rows) in zip(fig_parts.panels(fig, titles, ncols=1), cells, strict=False):
            _bars(ax, rows.head(MAX_STRATEGIES), colors, axis)
        fig_parts.band_legend(fig, [
            Patch(facecolor="#999999", label="measured: largest value that ran ok"),
            Line2D([], [], color="black", marker="|", linestyle="none", markersize=12,
                   label="predicted boundary (analytical model)")])
        return place(fig)


def _title(setup: str, rows: pd.DataFrame) -> str:
    budget = rows["budget_bytes"].dropna()
    under = f" · budget {human_bytes(int(budget.iloc[0]))} per rank" if len(budget) else ""
    return f"{setup}{under}"


def _bars(ax, rows: pd.DataFrame, colors: dict, axis: str) -> None:
    labels = order(rows["strategy"])
    rows = rows.set_index("strategy")
    # What is drawn (bars, marks), not the values probed above it: the axis fits the
    # boundaries, the notes take the room to their right.
    top = max([v for v in (*rows["boundary_size"], *rows["predicted_size"]) if pd.notna(v)]
              or [1])
    for y, strategy in enumerate(labels):
        row = rows.loc[strategy]
        size = row["boundary_size"]
        if pd.notna(size):
            ax.barh(y, size, height=0.6, color=colors[strategy], gid=f"{strategy}/boundary")
        if pd.notna(row["predicted_size"]):
            ax.plot([row["predicted_size"]], [y], marker="|", markersize=14, color="black",
                    gid=f"{strategy}/predicted")
        ax.text(top * 1.02, y, _note(row, axis), va="center", fontsize=7,
                color=FAIL_COLOR if row["status"] in ("failed", "none_fit") else "black")
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlim(0, top * 1.75)
    ax.invert_yaxis()
    ax.set_xlabel("parameters" if axis == "model" else axis.replace("_", " "))
    if axis == "model":
        ax.xaxis.set_major_formatter(lambda v, _: human_count(int(v)) if v > 0 else "0")


def _note(row: pd.Series, axis: str) -> str:
    show = (lambda n: human_count(int(n))) if axis == "model" else (lambda n: str(int(n)))
    if row["status"] == "failed":
        return "search stopped: a probe failed (not memory)"
    if row["status"] in ("searching", "cancelled"):
        return "search not finished"
    if pd.isna(row["boundary_size"]):
        return "nothing fits"
    text = show(row["boundary_size"])
    if row["status"] == "all_fit":
        text = f">= {text} (the whole range fits)"
    if pd.notna(row["ratio"]) and row.name != "baseline":
        text += f" · {row['ratio']:.2g}x the baseline"
    if pd.notna(row["speed"]) and row.name != "baseline":
        text += f" · {row['speed']:.0%} of its FLOP/s"
    elif row.get("speed_note") and row.name != "baseline":
        text += " · FLOP/s vs it unknown (CPUs shared)"
    return text
