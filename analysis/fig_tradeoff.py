"""Trade-off figures: strategies vs the baseline, the largest size that fits, the
memory-throughput Pareto front, scaling with the world size.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.path import Path

from analysis import fig_parts
from analysis.analysis import Analysis
from analysis.axes_layout import place
from analysis.bars import hbars
from analysis.grouping import groups, model_order
from analysis.labels import order
from analysis.style import FAIL_COLOR, new_page, styled
from analysis.tidy import hardware_keys, peak_what, setup_keys, varying
from suite.models import MODELS

MAX_BASELINE_PAGES = 2


def baseline_figures(a: Analysis, *, subtitle: str | None = None) -> list[Figure]:
    """Memory saved and throughput cost of each strategy against the baseline, for the largest
    model size whose baseline ran ok, one row of panels per hardware setup (at most 3), each
    listing the strategies run there; long lists go on over rows and pages."""
    frame = a.frame
    what = peak_what(frame)
    title = f"Strategies vs baseline: {what} saved and throughput cost"
    rows = a.reference
    if rows.empty:
        with styled():
            return [fig_parts.message(new_page(title, subtitle),
                                      "no setup has a baseline run that is ok")]
    colors = fig_parts.colors_of(frame)
    keys = [k for k in hardware_keys(frame) if k in rows]
    cells = {(f"{c.label} · " if c.label else "") + str(c.rows["model"].iloc[0]):
             c.rows.set_index("strategy") for c in groups(rows, keys)[:3]}
    pages = fig_parts.strategy_columns([(k, order(v.index)) for k, v in cells.items()])
    figs = []
    for n, page in enumerate(pages[:MAX_BASELINE_PAGES], start=1):
        more = f" ({n}/{min(len(pages), MAX_BASELINE_PAGES)})" if len(pages) > 1 else ""
        with styled():
            fig = new_page(title + more, subtitle)
            for (left, right), labels, data in _pair_rows(fig, page, cells):
                _pct_bars(left, data, "memory_saved_pct", labels, colors)
                _pct_bars(right, data, "throughput_cost_pct", labels, colors)
                left.set_xlabel(f"{what} saved [%]")
                right.set_xlabel("throughput cost [%] (< 0: faster)")
                right.tick_params(labelleft=False)  # the same strategies as on its left
            # the strategy names are the tick labels, on their colours: no legend
            figs.append(place(fig))
    return figs


def _pair_rows(fig: Figure, column: list, cells: dict) -> list:
    """A row of two axes per panel of `column`, heights in proportion to their strategies;
    the row's setup titles its left axes."""
    heights = [len(labels) + fig_parts.PANEL_ROWS for _, _, labels in column]
    spare = fig_parts.MAX_ROWS - sum(heights)
    grid = fig.add_gridspec(len(column) + (spare > 0), 2,  # a spare row: empty, no axes
                            height_ratios=heights + ([spare] if spare > 0 else []))
    axes = [[fig.add_subplot(grid[row, col]) for col in range(2)] for row in range(len(column))]
    out = []
    for pair, (cell, title, labels) in zip(axes, column, strict=False):
        pair[0].set_title(title, loc="left", parse_math=False)
        out.append((pair, labels, cells[cell]))
    return out


def _pct_bars(ax, data: pd.DataFrame, column: str, labels: list[str], colors: dict) -> None:
    drawn = []
    for y, strategy in enumerate(labels):
        if strategy not in data.index:
            continue
        value = data.at[strategy, column]
        if pd.isna(value):
            ax.text(0, y, f" {data.at[strategy, 'status'].upper()}", va="center", fontsize=7,
                    color=FAIL_COLOR, fontweight="bold")
            continue
        drawn.append((y, strategy, value))
    hbars(ax, [y for y, _, _ in drawn], [v for _, _, v in drawn], height=0.7,
          color=[colors[s] for _, s, _ in drawn],
          gids=[f"{strategy}/{column}" for _, strategy, _ in drawn])
    for y, _strategy, value in drawn:
        text = f"{value:+.1f}%" if abs(value) < 10 else f"{value:+.0f}%"
        ax.annotate(text, (value, y), xytext=(3 if value >= 0 else -3, 0),
                    textcoords="offset points", va="center", fontsize=7,
                    ha="left" if value >= 0 else "right")
    fig_parts.strategy_ticks(ax, labels, colors)
    ax.axvline(0, color="#333333", linewidth=0.8)
    ax.set_ylim(len(labels) - 0.5, -0.5)  # first label at the top
    lo, hi = ax.get_xlim()
    ax.set_xlim(min(lo, 0) - 0.15 * (hi - lo), max(hi, 0) + 0.15 * (hi - lo))


MAX_FIT_PAGES = 4


def fits_figures(a: Analysis, *, subtitle: str | None = None) -> list[Figure]:
    """The largest model size that fits, per strategy (bars) and hardware setup (panels):
    solid as measured, hatched where the analytical model extrapolates past the sizes run.
    A panel lists the strategies run on its setup only; long lists go on over panels and
    pages (at most MAX_FIT_PAGES)."""
    title = "Largest model size that fits, per strategy"
    table = a.fits
    if table.empty or table["largest_measured"].isna().all():
        with styled():
            return [fig_parts.message(new_page(title, subtitle), "no model size ran ok")]
    colors = fig_parts.colors_of(a.frame)
    keys = [k for k in hardware_keys(a.frame) if k in table]
    cells = {c.label or "all runs": c.rows.set_index("strategy") for c in groups(table, keys)}
    sizes = _sizes_shown(a.frame, table)
    panels = [(label, order(rows.index)) for label, rows in cells.items()]
    ncols = fig_parts.columns_per_page(panels)
    columns = fig_parts.strategy_columns(panels)
    pages = [columns[i:i + ncols] for i in range(0, len(columns), ncols)]
    left = sum(len(c) for page in pages[MAX_FIT_PAGES:] for c in page)
    note = f" ({left} more panels in the table)" if left else ""
    figs = []
    for n, page in enumerate(pages[:MAX_FIT_PAGES], start=1):
        more = f" ({n}/{min(len(pages), MAX_FIT_PAGES)})" if len(pages) > 1 else ""
        with styled():
            fig = new_page(title + more, (subtitle or "") + note or None)
            for ax, cell, labels in fig_parts.column_panels(fig, page):
                _fit_bars(ax, cells[cell], labels, colors, sizes)
            fig_parts.band_legend(fig, [
                Patch(facecolor="#999999", label="measured (largest size with an ok run)"),
                Patch(facecolor="white", edgecolor="#333333", hatch="///",
                      label="predicted (analytical model + measured overhead)")])
            figs.append(place(fig))
    return figs


def _fit_bars(ax, rows: pd.DataFrame, labels: list[str], colors: dict,
              sizes: list[str]) -> None:
    """Bars on a categorical axis of catalogue sizes: up to the largest size that fits."""
    where = {m: i for i, m in enumerate(sizes)}
    measured_bars, predicted_bars = [], []  # (y, left, width, strategy): a collection each
    for y, strategy in enumerate(labels):
        if strategy not in rows.index:
            continue
        row = rows.loc[strategy]
        measured = row["largest_measured"]
        if not isinstance(measured, str) or measured not in where:
            ax.text(-0.4, y, " nothing fits", va="center", fontsize=7, color=FAIL_COLOR)
            continue
        end = where[measured]
        measured_bars.append((y, -0.6, end + 0.6, strategy))
        text = measured
        if isinstance(row["largest_predicted"], str):
            top = where[row["largest_predicted"]]
            predicted_bars.append((y, end, top - end, strategy))
            text, end = f"{measured} -> {row['largest_predicted']}", top  # hatched: legend
        if isinstance(row["first_oom"], str):  # short: the panels of a page sit side by side
            text += f" (OOM at {row['first_oom']})"
        ax.annotate(text, (end, y), xytext=(3, 0), textcoords="offset points", va="center",
                    fontsize=7)
    ys, lefts, widths, names = _unzip(measured_bars)
    hbars(ax, ys, widths, left=lefts, height=0.7, color=[colors[s] for s in names],
          gids=[f"{s}/measured" for s in names])
    ys, lefts, widths, names = _unzip(predicted_bars)
    hbars(ax, ys, widths, left=lefts, height=0.7, color="white", hatch="///",
          edgecolor=[colors[s] for s in names], gids=[f"{s}/predicted" for s in names])
    fig_parts.strategy_ticks(ax, labels, colors)
    # Many sizes: upright labels, each as narrow as a line is high.
    ax.set_xticks(range(len(sizes)), sizes, rotation=90 if len(sizes) > 4 else 0)
    ax.set_xlim(-0.6, len(sizes) + 1.5)  # room for the labels right of the longest bar
    ax.set_ylim(len(labels) - 0.5, -0.5)  # first label at the top
    ax.set_xlabel("model size (catalogue order)")


def _unzip(bars: list[tuple[float, float, float, str]]) -> tuple[list, list, list, list]:
    """(y, left, width, strategy) rows as four columns."""
    return tuple(map(list, zip(*bars, strict=True))) if bars else ([], [], [], [])


def _sizes_shown(frame: pd.DataFrame, table: pd.DataFrame) -> list[str]:
    """The sizes run, predicted or out of memory, in catalogue order (the sizes between them
    that nothing names are left out: their labels would only crowd the axis)."""
    # the frame's few sizes from its unique values, not a set of its 100k rows (60 ms)
    named = set(frame["model"].dropna().unique()) | set(table["largest_predicted"].dropna()) \
        | set(table["first_oom"].dropna())
    return sorted(named, key=lambda m: (m not in MODELS, MODELS[m].n_params if m in MODELS
                                        else 0, str(m)))


def pareto_figure(a: Analysis, *, subtitle: str | None = None) -> Figure:
    """Throughput against peak memory per strategy, a panel per model size and setup; the
    Pareto front (nothing uses less memory and is faster) is joined and ringed."""
    frame = a.frame
    what = peak_what(frame)
    with styled():
        fig = new_page("Throughput vs memory: the Pareto front of the strategies", subtitle)
        table = a.pareto
        if table.empty:
            return fig_parts.message(fig, "no ok runs: see the failures page")
        colors, markers = fig_parts.colors_of(frame), fig_parts.markers_of(frame)
        shapes = {s: fig_parts.marker_path(m) for s, m in markers.items()}  # once, not per panel
        cells = [c for c in groups(table, setup_keys(frame)) if len(c.rows) >= 2] or \
            groups(table, setup_keys(frame))
        cells = cells[-fig_parts.MAX_PANELS:]  # the largest model sizes
        for ax, cell in zip(fig_parts.panels(fig, [c.label for c in cells]), cells, strict=False):
            _front(ax, cell.rows, colors, shapes)
            fig_parts.bytes_axis(ax, "x")
            fig_parts.count_axis(ax)
            ax.set_xlabel(f"{what} per rank")
            ax.set_ylabel("samples/s")
            ax.grid(True, alpha=0.3)
        ring = Line2D([], [], marker="o", markerfacecolor="none", markeredgecolor="black",
                      linestyle="-", color="black", label="on the Pareto front")
        fig_parts.strategy_legend(fig, colors, extra=[ring], markers=markers)
        return place(fig)


def _front(ax, rows: pd.DataFrame, colors: dict, shapes: dict[str, Path]) -> None:
    """The points of `rows` (a setup's pareto_table rows: peak and samples/s given), each
    strategy's marker outline in `shapes`; the front joined by a step line."""
    # four columns taken once as arrays and lists: a column of a group's frame per use and
    # itertuples over all its columns cost 2/3 of a panel (12 panels: ~100 -> ~30 ms)
    peak = rows["peak"].to_numpy(dtype="float64")
    speed = rows["samples_per_s"].to_numpy(dtype="float64")
    on = rows["on_front"].to_numpy(dtype=bool)
    lo, hi = np.nanmin(peak), np.nanmax(peak)  # as Series.min/max: missing values skipped
    pad = 0.08 * (hi - lo) if hi > lo else 0.1 * hi
    # the limits first: then adding each point does not rescale the view (3 ms a point)
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(0, np.nanmax(speed) * 1.15)
    for x, y, strategy, front in zip(peak.tolist(), speed.tolist(), rows["strategy"].tolist(),
                                     on.tolist(), strict=True):
        fig_parts.points(ax, np.array([[x, y]]), shapes[strategy], s=46 if front else 26,
                         facecolors=colors[strategy], edgecolors="black" if front else "none",
                         alpha=1.0 if front else 0.5, linewidths=1.0,
                         gid=f"{strategy}/{'front' if front else 'dominated'}").set_zorder(3)
    # the data limits take every point in at once (as scatter's do, one point at a time)
    ax.update_datalim(np.column_stack([peak, speed]))
    # by peak as sort_values sorts (quicksort; no missing peak in a pareto table)
    by_peak = np.argsort(peak[on], kind="quicksort")
    ax.step(peak[on][by_peak], speed[on][by_peak], where="post", color="black", linewidth=0.8,
            zorder=2)


def scaling_figure(a: Analysis, *, subtitle: str | None = None) -> Figure:
    """Peak memory per rank (top) and samples/s (bottom) against the world size, a line per
    strategy, a column per model size (the 3 largest run at several world sizes)."""
    frame = a.frame
    what = peak_what(frame)
    with styled():
        fig = new_page("Scaling with the world size, per strategy", subtitle)
        table = a.scaling
        if table.empty:
            return fig_parts.message(fig, "the world size does not vary in these runs")
        colors, markers = fig_parts.colors_of(frame), fig_parts.markers_of(frame)
        models = [m for m in model_order(frame) if m in set(table["model"])][-3:]
        shown = varying(table, [k for k in hardware_keys(frame) if k != "world_size"])
        titles = [f"{m}: {what} per rank" for m in models] + [f"{m}: samples/s" for m in models]
        axes = fig_parts.panels(fig, titles, ncols=len(models))
        lines = _lines(table, ["model", "strategy", *shown])  # all models', on both panels
        for i, model in enumerate(models):
            mine = [line for line in lines if line.model == model]
            sizes = np.unique(np.concatenate([line.world_sizes for line in mine]))
            for ax, column in ((axes[i], "peak"), (axes[len(models) + i], "samples_per_s")):
                for line in mine:
                    ax.plot(line.world_sizes, line.values[column], marker=markers[line.strategy],
                            markersize=4, color=colors[line.strategy],
                            gid=f"{line.strategy}/{column}")
                ax.set_xscale("log", base=2)
                ax.set_xticks(sizes, [str(n) for n in sizes])
                ax.set_xlabel("world size (ranks)")
                if column == "peak":
                    fig_parts.bytes_axis(ax, log=True)  # ZeRO's 1/N is a straight line
                else:
                    fig_parts.count_axis(ax)
                    ax.set_ylim(0, max(ax.get_ylim()[1], 1e-9) * 1.05)
                ax.grid(True, alpha=0.3)
        fig_parts.strategy_legend(fig, colors, markers=markers)
        return place(fig)



class _Line(NamedTuple):
    model: str
    strategy: str
    world_sizes: np.ndarray
    values: dict[str, np.ndarray]  # "peak" and "samples_per_s" at those world sizes


def _lines(rows: pd.DataFrame, keys: list[str]) -> list[_Line]:
    """A line per group of `keys` (model and strategy first) of scaling_table `rows`, in
    groupby's (sorted) order, its values as arrays. One groupby of the table numbers the
    groups; each group's positions in whole columns, not a DataFrame per group and a column
    of it per panel (both figures of the 100k report: ~15 ms)."""
    number = rows.groupby(keys, dropna=False).ngroup().to_numpy()  # numbered as iterated
    models, strategies = rows["model"].to_numpy(), rows["strategy"].to_numpy()
    world_sizes = rows["world_size"].to_numpy()
    values = {c: rows[c].to_numpy() for c in ("peak", "samples_per_s")}
    out = []
    for group in range(number.max() + 1 if len(number) else 0):
        at = np.flatnonzero(number == group)
        out.append(_Line(models[at[0]], strategies[at[0]], world_sizes[at],
                         {c: v[at] for c, v in values.items()}))
    return out
