"""Axes placed once, from the sizes of their labels: the report's figures need no layout engine.

A layout engine (constrained, tight) measures every axes by laying out its
ticks and texts, twice, and matplotlib draws a figure that has one a second
time before saving it: about half of a report's saving time. The report's
figures are grids of axes whose decorations are known before drawing (tick
labels from each axis' locator and formatter, one-line titles and axis labels),
so `place` measures those texts alone and sets each grid's margins and spacing
once. Texts are measured in the Agg renderer's DejaVu Sans, wider than the PDF's
Helvetica: the PDF has room to spare.
"""

from __future__ import annotations

from functools import cache
from weakref import WeakKeyDictionary

import matplotlib
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.figure import Figure, SubFigure
from matplotlib.font_manager import FontProperties
from matplotlib.gridspec import GridSpec

PAD = 5 / 72  # inches around every axes' decorations (as constrained layout's 3 pt, a little more)
TICK = 7 / 72  # a tick's length and its label's pad (3.5 pt each)
LABEL_PAD = 4 / 72  # between tick labels and the axis label
TITLE_PAD = 6 / 72
BOX_PAD = 4 / 72  # the tint box behind strategy tick labels (analysis/fig_parts.py)

# page -> (left, bottom, right, top): the part of the page the axes and their texts may take,
# in fractions of the page; held weakly: a page's entry goes with its Figure
_BOXES: WeakKeyDictionary[Figure, tuple[float, float, float, float]] = WeakKeyDictionary()


def keep_within(fig: Figure, box: tuple[float, float, float, float]) -> None:
    """The axes of `fig` and their texts stay in `box` (left, bottom, right, top fractions)."""
    left, bottom, right, top = box
    if not 0 <= left < right <= 1 or not 0 <= bottom < top <= 1:
        raise ValueError(f"the box {box} is not (left, bottom, right, top) inside the page: "
                         "give fractions of the page with left < right and bottom < top")
    _BOXES[fig] = box


def lower_top(fig: Figure, top: float) -> None:
    """The axes stay below `top` too (a legend band above them)."""
    left, bottom, right, old = _BOXES.get(fig, (0.0, 0.0, 1.0, 1.0))
    keep_within(fig, (left, bottom, right, min(top, old)))


def place(fig: Figure) -> Figure:
    """Set the margins and spacing of every grid of axes on `fig` (subfigures included) so
    that tick labels, axis labels and titles fit beside their axes and inside the page's
    box; returns `fig`. Call it once the axes, their limits, ticks and labels are set."""
    grids = _grids(fig)
    for _ in range(2):  # the second with the axes near their size: tick counts settle
        for grid, axes in grids.items():
            _fit(fig, grid, axes)
    return fig


def _grids(fig: Figure) -> dict[GridSpec, list[Axes]]:
    out: dict[GridSpec, list[Axes]] = {}
    stack: list[Figure | SubFigure] = [fig]
    while stack:
        container = stack.pop()
        stack.extend(container.subfigs)
        for ax in container.axes:
            spec = ax.get_subplotspec()
            if spec is not None:
                out.setdefault(spec.get_gridspec(), []).append(ax)
    return out


def _fit(fig: Figure, grid: GridSpec, axes: list[Axes]) -> None:
    """Margins from the axes on the grid's edges, gaps from those either side of a boundary."""
    width, height = fig.get_size_inches()
    box = _BOXES.get(fig, (0.0, 0.0, 1.0, 1.0))
    container = axes[0].get_figure(root=False)
    cx0, cy0, cx1, cy1 = container.bbox.extents / fig.dpi  # inches
    x0, x1 = max(cx0, box[0] * width), min(cx1, box[2] * width)
    y0, y1 = max(cy0, box[1] * height), min(cy1, box[3] * height)
    nrows, ncols = grid.get_geometry()
    lefts, rights = [0.0] * (ncols + 1), [0.0] * (ncols + 1)  # needs at each column boundary
    tops, bottoms = [0.0] * (nrows + 1), [0.0] * (nrows + 1)
    for ax in axes:
        left, right, bottom, top = _margins(ax)
        spec = ax.get_subplotspec()
        lefts[spec.colspan.start] = max(lefts[spec.colspan.start], left)
        rights[spec.colspan.stop] = max(rights[spec.colspan.stop], right)
        tops[spec.rowspan.start] = max(tops[spec.rowspan.start], top)
        bottoms[spec.rowspan.stop] = max(bottoms[spec.rowspan.stop], bottom)
    gap_w = max((rights[c] + lefts[c] + PAD for c in range(1, ncols)), default=0.0)
    gap_h = max((bottoms[r] + tops[r] + PAD for r in range(1, nrows)), default=0.0)
    a0, a1 = x0 + lefts[0] + PAD, x1 - rights[ncols] - PAD  # the axes' span, inches
    b0, b1 = y0 + bottoms[nrows] + PAD, y1 - tops[0] - PAD
    cell_w = max((a1 - a0 - (ncols - 1) * gap_w) / ncols, 0.1)
    cell_h = max((b1 - b0 - (nrows - 1) * gap_h) / nrows, 0.1)
    cw, ch = cx1 - cx0, cy1 - cy0
    grid.update(left=(a0 - cx0) / cw, right=(a1 - cx0) / cw, bottom=(b0 - cy0) / ch,
                top=(b1 - cy0) / ch, wspace=gap_w / cell_w, hspace=gap_h / cell_h)
    for ax in axes:  # GridSpec.update moves the axes of pyplot's figures only
        ax.set_position(ax.get_subplotspec().get_position(container))


def _margins(ax: Axes) -> tuple[float, float, float, float]:
    """Inches the axes' texts take left, right, below and above it."""
    if not ax.axison:
        return 0.0, 0.0, 0.0, 0.0
    tick_font = _points(matplotlib.rcParams["ytick.labelsize"])
    label_font = _points(matplotlib.rcParams["axes.labelsize"])
    line = _size("Hg", tick_font)[1]
    label_line = _size("Hg", label_font)[1]
    left = right = bottom = 0.0
    ys = _tick_labels(ax.yaxis, "labelleft")
    if ys:
        left = max(_size(s, tick_font)[0] for s in ys) + TICK + BOX_PAD
    if ax.get_ylabel():
        left += label_line + LABEL_PAD
    xs = _tick_labels(ax.xaxis, "labelbottom")
    if xs:
        widths = [_size(s, tick_font)[0] for s in xs]
        ticks = ax.xaxis.get_major_ticks(1)
        upright = bool(ticks) and ticks[0].label1.get_rotation() % 180 == 90
        bottom = (max(widths) if upright else line) + TICK
        if not upright:  # the end labels stand out half their width past the axes
            left, right = max(left, widths[0] / 2), widths[-1] / 2
    if ax.get_xlabel():
        bottom += label_line + LABEL_PAD
    titled = any(ax.get_title(loc) for loc in ("left", "center", "right"))
    title_font = _points(matplotlib.rcParams["axes.titlesize"])
    top = _size("Hg", title_font)[1] + TITLE_PAD if titled else line / 2
    return left, right, bottom, top


def _tick_labels(axis: Axis, shown: str) -> list[str]:
    """The major tick labels the axis will draw, in order (none where they are turned off)."""
    if not axis.get_tick_params(which="major").get(shown, True):
        return []
    lo, hi = sorted(axis.get_view_interval())
    slack = (hi - lo) * 1e-9
    locs = [v for v in axis.get_major_locator()() if lo - slack <= v <= hi + slack]
    return [s for s in axis.get_major_formatter().format_ticks(locs) if s]


def _points(size: float | str) -> float:
    return FontProperties(size=size).get_size_in_points()


@cache  # a report measures the same few hundred labels on many pages
def _size(text: str, points: float) -> tuple[float, float]:
    """Width and height (with descent) of one line of `text` in the default sans-serif font at
    `points`, in inches."""
    width, height, _descent = _RENDERER.get_text_width_height_descent(
        text, FontProperties(size=points), ismath=False)
    return width / _RENDERER.dpi, height / _RENDERER.dpi


_RENDERER = RendererAgg(1, 1, 72)  # measures only: at 72 dpi a pixel is a point
