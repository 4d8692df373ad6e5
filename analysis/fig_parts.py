"""Drawing helpers the figures share: panel grids, the strategy legend, byte axes.

Every mark that shows a strategy is drawn in its colour (the frame's `color`
column, analysis/labels.py) and carries a gid `strategy/...` so tests can
tell what a mark shows.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.markers import MarkerStyle
from matplotlib.path import Path
from matplotlib.ticker import (
    FuncFormatter,
    LogLocator,
    MaxNLocator,
    MultipleLocator,
    NullFormatter,
)
from matplotlib.transforms import IdentityTransform

from analysis.axes_layout import lower_top
from analysis.labels import order
from analysis.style import CONTENT_TOP, LEGEND_BAND
from analysis.units import byte_unit, human_bytes, human_count, human_rate

MAX_PANELS = 6
MAX_ROWS = 30  # strategy rows (bars) a page's height holds at 8 pt tick labels
PANEL_ROWS = 3  # the rows' worth of height a panel's title and x axis take
WIDE_LABEL = 54  # characters: strategy labels this long get the page's whole width


def strategy_columns(cells: list[tuple[str, list[str]]], *, rows: int = MAX_ROWS
                     ) -> list[list[tuple[str, str, list[str]]]]:
    """Panels of (title, strategy labels) as (cell title, panel title, labels), packed in
    order into columns of at most `rows` rows (a panel takes its labels plus PANEL_ROWS); a
    longer list is split over panels titled `(1/2)`, `(2/2)`: a panel never stacks more
    labels than its height holds."""
    panels = []
    for title, labels in cells:
        size = rows - PANEL_ROWS
        parts = [labels[i:i + size] for i in range(0, len(labels), size)] or [[]]
        panels += [(title, title if len(parts) == 1 else f"{title} ({i}/{len(parts)})", part)
                   for i, part in enumerate(parts, start=1)]
    columns: list[list] = [[]]
    used = 0
    for panel in panels:
        need = len(panel[2]) + PANEL_ROWS
        if columns[-1] and used + need > rows:
            columns.append([])
            used = 0
        columns[-1].append(panel)
        used += need
    return columns


def columns_per_page(cells: list[tuple[str, list[str]]], *, most: int = 2) -> int:
    """Columns of panels side by side: up to `most` where the strategy labels are short
    (at most WIDE_LABEL / 2 characters), two, or one where they are long."""
    widest = max((len(label) for _, labels in cells for label in labels), default=0)
    return 1 if widest > WIDE_LABEL else most if widest <= WIDE_LABEL // 2 else min(most, 2)


def column_panels(fig: Figure, columns: list[list[tuple[str, str, list[str]]]], *,
                  rows: int = MAX_ROWS) -> list[tuple[Axes, str, list[str]]]:
    """Side by side, each column's panels (strategy_columns) stacked with heights in proportion
    to their rows (a bar is as tall in every panel); returns (axes, cell title, labels)."""
    out = []
    for sub, column in zip(fig.subfigures(1, len(columns), squeeze=False).ravel(), columns,
                           strict=True):
        heights = [len(labels) + PANEL_ROWS for _, _, labels in column]
        spare = rows - sum(heights)
        grid = sub.add_gridspec(len(column) + (spare > 0), 1,  # a spare row: empty, no axes
                                height_ratios=heights + ([spare] if spare > 0 else []))
        axes = [sub.add_subplot(grid[row, 0]) for row in range(len(column))]
        for ax, (cell, title, labels) in zip(axes, column, strict=False):
            ax.set_title(title, parse_math=False, fontsize=9)
            out.append((ax, cell, labels))
    return out


def panels(fig: Figure, titles: list[str], *, ncols: int = 3, sharey: bool = False,
           sharex: bool = False) -> list[Axes]:
    """A grid of len(titles) axes, row by row (at most MAX_PANELS: the caller pages them)."""
    titles = titles[:MAX_PANELS]
    if not titles:
        return []
    ncols = min(ncols, len(titles))
    axes = fig.subplots(math.ceil(len(titles) / ncols), ncols, squeeze=False,
                        sharey=sharey, sharex=sharex).ravel()
    for ax in axes[len(titles):]:
        ax.remove()
    for ax, title in zip(axes, titles, strict=False):
        ax.set_title(title, parse_math=False)
    return list(axes[:len(titles)])


def colors_of(frame: pd.DataFrame) -> dict[str, str]:
    """strategy -> colour, as the enriched frame assigns them."""
    return _first_per_strategy(frame, "color")


def markers_of(frame: pd.DataFrame) -> dict[str, str]:
    """strategy -> marker, as the enriched frame assigns them."""
    return _first_per_strategy(frame, "marker")


def _first_per_strategy(frame: pd.DataFrame, column: str) -> dict:
    """strategy -> `column` in the strategy's first row. The first rows by a mask of the
    strategy column alone: no copy of two columns of every row to drop duplicates from (100k
    rows: 2.5 -> 1.5 ms a call, a few calls per figure)."""
    if frame.empty:
        return {}
    first = ~frame["strategy"].duplicated().to_numpy()
    return dict(zip(frame["strategy"].to_numpy()[first], frame[column].to_numpy()[first],
                    strict=True))


def strategy_legend(fig: Figure, colors: dict[str, str], *, extra: list | None = None,
                    marker: str = "s", markers: dict[str, str] | None = None) -> None:
    """One entry per strategy (baseline first) in a band under the subtitle, never over data;
    `markers` (per strategy) for figures of points and lines."""
    markers = markers or {}
    handles = [Line2D([], [], color=colors[s], marker=markers.get(s, marker), linestyle="none",
                      markersize=7, label=s) for s in order(colors)]
    band_legend(fig, handles + (extra or []))


def band_legend(fig: Figure, handles: list) -> None:
    """A legend in a band of its own under the subtitle; the panels are laid out below it."""
    if not handles:
        return
    widest = max(len(h.get_label()) for h in handles)
    many = len(handles) > 18  # a catalogue sweep: smaller entries, more columns
    ncols = min(len(handles), (3 if widest > 34 else 4 if widest > 22 else 6) + many)
    rows = math.ceil(len(handles) / ncols)
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, CONTENT_TOP),
               ncols=ncols, frameon=False, fontsize=6.5 if many else 8,
               handletextpad=0.3, columnspacing=1.0, labelspacing=0.25 if many else 0.5)
    band = LEGEND_BAND * (1 + (0.42 if many else 0.6) * (rows - 1))
    lower_top(fig, CONTENT_TOP - band)


class _InView:
    """Mixed into a locator: of its locations, those in the axis' view. matplotlib makes a
    Tick (five artists) for each location a locator returns but draws only those in view;
    these locators return a step or a power past each end (86 Ticks of the 100k report that
    were never drawn). The slack keeps every location matplotlib's own test would draw."""

    def __call__(self):
        locs = np.asarray(super().__call__())
        if not len(locs):
            return locs
        scale = self.axis.get_transform()
        lo, hi = sorted(scale.transform(sorted(self.axis.get_view_interval())))
        at = scale.transform(locs)
        slack = (hi - lo) * 1e-6
        return locs[(at >= lo - slack) & (at <= hi + slack)]


class _InViewLog(_InView, LogLocator):
    pass


class _InViewMultiple(_InView, MultipleLocator):
    pass


class _InViewMaxN(_InView, MaxNLocator):
    pass


def bytes_axis(ax: Axes, which: str = "y", *, log: bool = False) -> None:
    """Byte ticks in binary units (`512 MiB`, `4 GiB`), log-scaled when asked. Call it once
    the data are drawn: the ticks follow the range in view."""
    axis = ax.yaxis if which == "y" else ax.xaxis
    if log:
        (ax.set_yscale if which == "y" else ax.set_xscale)("log", base=2)
        axis.set_minor_locator(_InViewLog(2, None))  # the log scale's own, in view
    lo, hi = _limits(ax, which)
    if log and _powers_in_view(lo, hi, 2) >= 2:
        axis.set_major_locator(_InViewLog(base=2, numticks=12))
    else:  # round steps of the unit shown (1, 2, 5 ... GiB), few enough not to touch; also
        # on a log axis spanning under two powers of 2 (538-632 MiB: no power of 2 at all)
        unit = byte_unit(max(abs(lo), abs(hi)))[0]
        want = (hi - lo) / unit / (4 if which == "x" else 6)
        step = next((s for s in (0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10, 20, 25, 50, 100, 200,
                                 250, 500, 1000) if s >= want), want)
        axis.set_major_locator(_InViewMultiple(step * unit))
        axis.set_minor_formatter(NullFormatter())
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: human_bytes(v)))


def _limits(ax: Axes, which: str) -> tuple[float, float]:
    lo, hi = ax.get_xlim() if which == "x" else ax.get_ylim()
    return min(lo, hi), max(lo, hi)


def _powers_in_view(lo: float, hi: float, base: float) -> int:
    """How many powers of `base` lie in [lo, hi] (the major ticks of a log axis)."""
    if lo <= 0 or hi <= lo:
        return 0
    return math.floor(math.log(hi, base) + 1e-9) - math.ceil(math.log(lo, base) - 1e-9) + 1


def count_axis(ax: Axes, which: str = "y") -> None:
    axis = ax.yaxis if which == "y" else ax.xaxis
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: human_rate(v)))


def params_axis(ax: Axes) -> None:
    """x as parameter counts on a log scale: 125M, 1.3B (round steps where the sizes in view
    span under two powers of 10, as a capacity search's boundaries do: 33M-42M). Call it
    once the data are drawn."""
    ax.set_xscale("log")
    ax.xaxis.set_minor_locator(_InViewLog(10, None))  # the log scale's own, in view
    if _powers_in_view(*_limits(ax, "x"), 10) < 2:
        ax.xaxis.set_major_locator(_InViewMaxN(nbins=6, steps=[1, 2, 2.5, 5, 10]))
    else:
        ax.xaxis.set_major_locator(_InViewLog(10))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: human_count(int(v))))
    ax.xaxis.set_minor_formatter(NullFormatter())


def marker_path(marker: str) -> Path:
    """The outline of a filled marker, as ax.scatter sizes it."""
    style = MarkerStyle(marker)
    return style.get_path().transformed(style.get_transform())


def points(ax, at: np.ndarray, shape: Path, *, s: float, facecolors, edgecolors,
            alpha: float | None = None, linewidths: float | None = None,
            gid: str) -> PathCollection:
    """The collection `ax.scatter(x, y, s=s, facecolor=..., edgecolor=..., alpha=alpha,
    linewidth=linewidths, gid=gid)` draws for the points `at` ((x, y) rows), built directly:
    scatter's argument handling (masked arrays, colour parsing, a MarkerStyle per call) and
    its view update per call were most of the changes figure's CPU (81 calls at 100k
    records). The data limits are the caller's to update (`update_datalim` of every point,
    then `autoscale(enable=None)`: what each scatter did)."""
    made = PathCollection((shape,), [s], facecolors=facecolors, edgecolors=edgecolors,
                          linewidths=linewidths, offsets=at, offset_transform=ax.transData,
                          alpha=alpha, gid=gid)
    made.set_transform(IdentityTransform())  # the marker in points, placed at each (x, y)
    ax.add_collection(made, autolim=False)
    return made


def strategy_ticks(ax: Axes, labels: list[str], colors: dict[str, str], which: str = "y") -> None:
    """Strategy names as tick labels, each on a tint of its colour."""
    setter = ax.set_yticks if which == "y" else ax.set_xticks
    setter(range(len(labels)), labels)
    ticks = ax.get_yticklabels() if which == "y" else ax.get_xticklabels()
    for text, label in zip(ticks, labels, strict=False):  # hidden on shared axes
        text.set_parse_math(False)
        text.set_bbox({"facecolor": colors.get(label, "white"), "alpha": 0.3,
                       "edgecolor": "none", "boxstyle": "round,pad=0.2"})


def top_down(ax: Axes) -> None:
    """First label at the top (once: axes sharing y share the inversion)."""
    if not ax.yaxis_inverted():
        ax.invert_yaxis()


def message(fig: Figure, text: str) -> Figure:
    """A figure without data says why, in the middle of the page."""
    fig.text(0.5, 0.5, text, ha="center", va="center", fontsize=13, color="#555555",
             wrap=True)
    return fig
