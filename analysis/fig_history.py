"""Figures across nights and partitions: nightly trends, partition vs partition, changes found.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.dates import DateFormatter, DayLocator
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from analysis import fig_parts
from analysis.analysis import Analysis
from analysis.axes_layout import place
from analysis.bars import hbars
from analysis.grouping import groups
from analysis.history import TREND_METRICS
from analysis.labels import order
from analysis.style import FAIL_COLOR, new_page, styled
from analysis.tidy import hardware_keys, peak_what

HATCHES = ("", "///", "...", "xxx", "\\\\\\")


def trend_figure(a: Analysis, *, subtitle: str | None = None) -> Figure:
    """Peak memory (top) and throughput (bottom) across nights, in % of each scenario's
    median, a line per strategy, a column per partition (at most 3)."""
    frame = a.frame
    with styled():
        fig = new_page("Nightly trends per partition", subtitle)
        table = a.trends
        if table.empty or table["night"].nunique() < 2:
            return fig_parts.message(fig, "fewer than two nights with ok runs: no trend to show")
        colors, markers = fig_parts.colors_of(frame), fig_parts.markers_of(frame)
        partitions = sorted(table["partition"].unique())[:3]
        nights = sorted(table["night"].unique())
        titles = [f"{p}: {what} vs typical [%]" for _, what in TREND_METRICS for p in partitions]
        axes = fig_parts.panels(fig, titles, ncols=len(partitions), sharex=True)
        lines = [_night_lines(table[table["partition"] == p]) for p in partitions]
        for r, (column, _) in enumerate(TREND_METRICS):
            for c, partition in enumerate(partitions):
                ax = axes[r * len(partitions) + c]
                for strategy, (dates, line) in lines[c].items():
                    ax.plot(dates, line[column],
                            marker=markers[strategy] if len(nights) <= 20 else None,
                            markersize=3,
                            linewidth=1.2 if len(nights) <= 20 else 0.9, color=colors[strategy],
                            gid=f"{strategy}/{column}/{partition}")
                ax.axhline(0, color="#333333", linewidth=0.7)
                lo, hi = ax.get_ylim()  # at least ±2%: noise should look like noise
                ax.set_ylim(min(lo, -2), max(hi, 2))
                ax.xaxis.set_major_locator(DayLocator(interval=max(1, len(nights) // 6)))
                ax.xaxis.set_major_formatter(DateFormatter("%b %d"))
                ax.set_ylabel("% vs typical")
                ax.grid(True, alpha=0.3)
        fig_parts.strategy_legend(fig, colors, markers=markers)
        return place(fig)


def _night_lines(rows: pd.DataFrame) -> dict[str, tuple[pd.Series, pd.DataFrame]]:
    """A partition's trend rows per strategy (in `order`): its nights as dates, and its rows,
    both by night. Sorted and parsed once per partition, not per strategy and metric: 54
    filters, sorts and date parses made a third of the figure's CPU."""
    rows = rows.sort_values("night")
    dates = pd.to_datetime(rows["night"])
    where = rows.groupby("strategy", sort=False).indices
    return {s: (dates.iloc[where[s]], rows.iloc[where[s]]) for s in order(rows["strategy"])}


def hardware_figure(a: Analysis, *, column: str = "samples_per_s",
                    subtitle: str | None = None) -> Figure:
    """Partition beside partition for the same scenarios: a bar per partition (hatch) and
    strategy (colour), a panel per model size and setup (the 6 largest)."""
    frame = a.frame
    what = "throughput (samples/s)" if column == "samples_per_s" else f"{peak_what(frame)}"
    with styled():
        fig = new_page(f"Partitions side by side: {what}", subtitle)
        table = a.partitions
        if table.empty:
            return fig_parts.message(fig, "no scenario ran ok on two partitions")
        value = "peak" if column == "peak_bytes" else column
        colors = fig_parts.colors_of(frame)
        partitions = sorted(table["partition"].unique())
        keys = [k for k in hardware_keys(frame) if k != "partition" and k in table]
        cells = groups(table, [*keys, "model"])[-fig_parts.MAX_PANELS:]
        ncols = fig_parts.columns_per_page([("", order(table["strategy"]))], most=3)
        for ax, cell in zip(fig_parts.panels(fig, [c.label for c in cells], ncols=ncols), cells,
                            strict=False):
            # the strategies run at this size and setup only, not every one of the table
            _side_by_side(ax, cell.rows, value, order(cell.rows["strategy"]), partitions, colors)
            (fig_parts.bytes_axis if value == "peak" else fig_parts.count_axis)(ax, "x")
        handles = [Patch(facecolor="#BBBBBB", edgecolor="#333333", hatch=HATCHES[i % 5],
                         label=p) for i, p in enumerate(partitions)]
        fig_parts.band_legend(fig, handles)
        return place(fig)


def _side_by_side(ax, rows: pd.DataFrame, value: str, labels: list[str], partitions: list[str],
                  colors: dict) -> None:
    height = 0.8 / len(partitions)
    found = rows.groupby(["strategy", "partition"])[value].first().to_dict()
    for i, partition in enumerate(partitions):  # one call per partition: many bars
        offset = (i - (len(partitions) - 1) / 2) * height
        drawn = [(y, s) for y, s in enumerate(labels) if (s, partition) in found]
        hbars(ax, [y + offset for y, _ in drawn], [float(found[(s, partition)]) for _, s in drawn],
              height=height, color=[colors[s] for _, s in drawn], hatch=HATCHES[i % 5],
              edgecolor="#333333", linewidth=0.4,
              gids=[f"{strategy}/{partition}/{value}" for _, strategy in drawn])
        for y, strategy in drawn:
            first = found.get((strategy, partitions[0]))
            if i and first is not None:  # x the first partition
                mine = found[(strategy, partition)]
                ax.annotate(f"{mine / first:.2f}×", (float(mine), y + offset), xytext=(2, 0),
                            textcoords="offset points", va="center", fontsize=6.5)
    fig_parts.strategy_ticks(ax, labels, colors)
    ax.set_ylim(len(labels) - 0.5, -0.5)  # first label at the top
    ax.set_xlim(0, ax.get_xlim()[1] * 1.2)  # room for the ratios


def changes_figure(table: pd.DataFrame, *, subtitle: str | None = None,
                   title: str = "Changes against the baseline records") -> Figure:
    """A comparison's changes (analysis/regress.py table), a panel per metric: one point per
    scenario by strategy, regressions ringed in red, the floor dashed."""
    with styled():
        fig = new_page(title, subtitle)
        rows = table[table["metric"] != "status"].dropna(subset=["change"])
        if rows.empty:
            return fig_parts.message(fig, "no scenario matched: nothing to compare")
        labels = order(rows["strategy"])
        colors = fig_parts.colors_of(rows)
        metrics = list(dict.fromkeys(rows["metric"]))
        dot = fig_parts.marker_path("o")  # scatter's default marker
        for ax, metric in zip(fig_parts.panels(fig, [f"{m}: change [%]" for m in metrics],
                                          sharey=True), metrics, strict=False):
            mine = rows[rows["metric"] == metric]
            drawn = []
            for y, (x, jitter, bad) in enumerate(_strategy_points(mine, labels)):
                strategy = labels[y]
                at = np.column_stack([x, y + jitter])
                fig_parts.points(ax, at, dot, s=14, facecolors=colors[strategy],
                                 edgecolors="none", alpha=0.7, gid=f"{strategy}/{metric}")
                if bad.any():
                    fig_parts.points(ax, at[bad], dot, s=60, facecolors="none",
                                     edgecolors=FAIL_COLOR, linewidths=1.2,
                                     gid=f"{strategy}/{metric}/regression")
                drawn.append(at)
            # the data limits take the panel's points in at once, as each scatter did its own,
            # and the view follows them when next asked for
            ax.update_datalim(np.concatenate(drawn))
            ax.autoscale(enable=None)
            floor = float(mine["threshold"].min()) * 100  # NaN where the noise is unknown
            for x in (-floor, floor) if math.isfinite(floor) else ():
                ax.axvline(x, color="#777777", linestyle="--", linewidth=0.8)
            ax.axvline(0, color="#333333", linewidth=0.7)
            fig_parts.strategy_ticks(ax, labels, colors)
            fig_parts.top_down(ax)
            ax.set_xlabel("change vs baseline records [%]")
        ring = Line2D([], [], marker="o", markerfacecolor="none", markeredgecolor=FAIL_COLOR,
                      linestyle="none", label="regression (beyond its threshold)")
        floor_line = Line2D([], [], color="#777777", linestyle="--", label="smallest threshold")
        fig_parts.band_legend(fig, [ring, floor_line])
        return place(fig)



def _strategy_points(mine: pd.DataFrame, labels: list[str]
                     ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per strategy of `labels` (none where it has no row): its changes in %, each point's
    jitter off its row (-0.18 to +0.18 by its place in the table, in steps of 7) and whether
    it is a regression. One split of the metric's rows into arrays, not a filter, a
    reset_index and a compare per strategy: ~70 ms of the figure's CPU at 100k records."""
    change = 100 * mine["change"].to_numpy(dtype="float64")
    bad = (mine["verdict"] == "regression").to_numpy(dtype=bool)
    where = mine.groupby("strategy", sort=False).indices
    none = np.array([], dtype=np.intp)
    out = []
    for strategy in labels:
        at = where.get(strategy, none)
        jitter = ((np.arange(len(at)) % 7) - 3) * 0.06
        out.append((change[at], jitter, bad[at]))
    return out
