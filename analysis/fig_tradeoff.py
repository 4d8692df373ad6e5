"""Trade-off figures: strategies vs the baseline, the largest size that fits, the
memory-throughput Pareto front, scaling with the world size.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from analysis import fig_parts
from analysis.analysis import Analysis
from analysis.grouping import groups, model_order
from analysis.labels import order
from analysis.style import FAIL_COLOR, new_page, styled
from analysis.tidy import hardware_keys, peak_what, setup_keys, varying
from suite.models import MODELS


def baseline_figure(a: Analysis, *, subtitle: str | None = None) -> Figure:
    """Memory saved and throughput cost of each strategy against the baseline, for the largest
    model size whose baseline ran ok, one row of panels per hardware setup (at most 3)."""
    frame = a.frame
    what = peak_what(frame)
    with styled():
        fig = new_page(f"Strategies vs baseline: {what} saved and throughput cost", subtitle)
        rows = a.reference
        if rows.empty:
            return fig_parts.message(fig, "no setup has a baseline run that is ok")
        colors = fig_parts.colors_of(frame)
        keys = [k for k in hardware_keys(frame) if k in rows]
        cells = groups(rows, keys)[:3]
        titles = []
        for cell in cells:
            where = f"{cell.label} · " if cell.label else ""
            titles += [f"{where}{cell.rows['model'].iloc[0]}: {what} saved [%]",
                       f"{where}{cell.rows['model'].iloc[0]}: throughput cost [%] "
                       "(< 0: faster)"]
        axes = fig_parts.panels(fig, titles, ncols=2, sharey=True)
        labels = order(rows["strategy"])
        for i, cell in enumerate(cells):
            data = cell.rows.set_index("strategy")
            for ax, column in zip(axes[2 * i:2 * i + 2], ("memory_saved_pct",
                                                           "throughput_cost_pct"), strict=True):
                _pct_bars(ax, data, column, labels, colors)
        return fig  # the strategy names are the tick labels, on their colours: no legend


def _pct_bars(ax, data: pd.DataFrame, column: str, labels: list[str], colors: dict) -> None:
    for y, strategy in enumerate(labels):
        if strategy not in data.index:
            continue
        value = data.at[strategy, column]
        if pd.isna(value):
            ax.text(0, y, f" {data.at[strategy, 'status'].upper()}", va="center", fontsize=7,
                    color=FAIL_COLOR, fontweight="bold")
            continue
        ax.barh(y, value, height=0.7, color=colors[strategy], gid=f"{strategy}/{column}")
        text = f"{value:+.1f}%" if abs(value) < 10 else f"{value:+.0f}%"
        ax.annotate(text, (value, y), xytext=(3 if value >= 0 else -3, 0),
                    textcoords="offset points", va="center", fontsize=7,
                    ha="left" if value >= 0 else "right")
    fig_parts.strategy_ticks(ax, labels, colors)
    ax.axvline(0, color="#333333", linewidth=0.8)
    fig_parts.top_down(ax)
    lo, hi = ax.get_xlim()
    ax.set_xlim(min(lo, 0) - 0.15 * (hi - lo), max(hi, 0) + 0.15 * (hi - lo))


def fits_figure(a: Analysis, *, subtitle: str | None = None) -> Figure:
    """The largest model size that fits, per strategy (bars) and hardware setup (panels):
    solid as measured, hatched where the analytical model extrapolates past the sizes run."""
    frame = a.frame
    with styled():
        fig = new_page("Largest model size that fits, per strategy", subtitle)
        table = a.fits
        if table.empty or table["largest_measured"].isna().all():
            return fig_parts.message(fig, "no model size ran ok")
        colors = fig_parts.colors_of(frame)
        keys = [k for k in hardware_keys(frame) if k in table]
        cells = groups(table, keys)
        labels = order(table["strategy"])
        sizes = _sizes_shown(frame, table)
        for ax, cell in zip(fig_parts.panels(fig, [c.label or "all runs" for c in cells], ncols=2,
                                        sharey=True), cells, strict=False):
            _fit_bars(ax, cell.rows.set_index("strategy"), labels, colors, sizes)
        handles = [Patch(facecolor="#999999", label="measured (largest size with an ok run)"),
                   Patch(facecolor="white", edgecolor="#333333", hatch="///",
                         label="predicted (analytical model + measured overhead)")]
        fig_parts.band_legend(fig, handles)
        return fig


def _fit_bars(ax, rows: pd.DataFrame, labels: list[str], colors: dict,
              sizes: list[str]) -> None:
    """Bars on a categorical axis of catalogue sizes: up to the largest size that fits."""
    where = {m: i for i, m in enumerate(sizes)}
    for y, strategy in enumerate(labels):
        if strategy not in rows.index:
            continue
        row = rows.loc[strategy]
        measured = row["largest_measured"]
        if not isinstance(measured, str) or measured not in where:
            ax.text(-0.4, y, " nothing fits", va="center", fontsize=7, color=FAIL_COLOR)
            continue
        end = where[measured]
        ax.barh(y, end + 0.6, left=-0.6, height=0.7, color=colors[strategy],
                gid=f"{strategy}/measured")
        text = measured
        if isinstance(row["largest_predicted"], str):
            top = where[row["largest_predicted"]]
            ax.barh(y, top - end, left=end, height=0.7, color="white",
                    edgecolor=colors[strategy], hatch="///", gid=f"{strategy}/predicted")
            text, end = f"{measured}, predicted up to {row['largest_predicted']}", top
        if isinstance(row["first_oom"], str):
            text += f" ({row['first_oom']}: out of memory)"
        ax.annotate(text, (end, y), xytext=(3, 0), textcoords="offset points", va="center",
                    fontsize=7)
    fig_parts.strategy_ticks(ax, labels, colors)
    ax.set_xticks(range(len(sizes)), sizes)
    ax.set_xlim(-0.6, len(sizes) + 1.5)  # room for the labels right of the longest bar
    fig_parts.top_down(ax)
    ax.set_xlabel("model size (catalogue order)")


def _sizes_shown(frame: pd.DataFrame, table: pd.DataFrame) -> list[str]:
    """Catalogue sizes from the smallest run to the largest run or predicted."""
    named = set(frame["model"].dropna()) | set(table["largest_predicted"].dropna())
    catalogue = sorted(MODELS.values(), key=lambda s: s.n_params)
    known = [i for i, s in enumerate(catalogue) if s.name in named]
    if not known:
        return sorted(named)
    return [s.name for s in catalogue[min(known):max(known) + 1]]


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
        cells = [c for c in groups(table, setup_keys(frame)) if len(c.rows) >= 2] or \
            groups(table, setup_keys(frame))
        cells = cells[-fig_parts.MAX_PANELS:]  # the largest model sizes
        for ax, cell in zip(fig_parts.panels(fig, [c.label for c in cells]), cells, strict=False):
            _front(ax, cell.rows, colors, markers)
            fig_parts.bytes_axis(ax, "x")
            fig_parts.count_axis(ax)
            ax.set_xlabel(f"{what} per rank")
            ax.set_ylabel("samples/s")
            ax.grid(True, alpha=0.3)
        ring = Line2D([], [], marker="o", markerfacecolor="none", markeredgecolor="black",
                      linestyle="-", color="black", label="on the Pareto front")
        fig_parts.strategy_legend(fig, colors, extra=[ring], markers=markers)
        return fig


def _front(ax, rows: pd.DataFrame, colors: dict, markers: dict) -> None:
    for row in rows.itertuples(index=False):
        ax.scatter(row.peak, row.samples_per_s, s=46 if row.on_front else 26,
                   color=colors[row.strategy], marker=markers[row.strategy],
                   alpha=1.0 if row.on_front else 0.5,
                   edgecolor="black" if row.on_front else "none", linewidth=1.0, zorder=3,
                   gid=f"{row.strategy}/{'front' if row.on_front else 'dominated'}")
    front = rows[rows["on_front"]].sort_values("peak")
    ax.step(front["peak"], front["samples_per_s"], where="post", color="black", linewidth=0.8,
            zorder=2)
    lo, hi = rows["peak"].min(), rows["peak"].max()
    pad = 0.08 * (hi - lo) if hi > lo else 0.1 * hi
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(0, rows["samples_per_s"].max() * 1.15)


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
        for i, model in enumerate(models):
            rows = table[table["model"] == model]
            for ax, column in ((axes[i], "peak"), (axes[len(models) + i], "samples_per_s")):
                for (strategy, *_), line in rows.groupby(["strategy", *shown], dropna=False):
                    ax.plot(line["world_size"], line[column], marker=markers[strategy],
                            markersize=4,
                            color=colors[strategy], gid=f"{strategy}/{column}")
                ax.set_xscale("log", base=2)
                ax.set_xticks(sorted(rows["world_size"].unique()),
                              [str(n) for n in sorted(rows["world_size"].unique())])
                ax.set_xlabel("world size (ranks)")
                if column == "peak":
                    fig_parts.bytes_axis(ax, log=True)  # ZeRO's 1/N is a straight line
                else:
                    fig_parts.count_axis(ax)
                    ax.set_ylim(0, max(ax.get_ylim()[1], 1e-9) * 1.05)
                ax.grid(True, alpha=0.3)
        fig_parts.strategy_legend(fig, colors, markers=markers)
        return fig

