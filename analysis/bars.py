"""Horizontal bars drawn as one collection per call, each bar still found by its gid.

`Axes.barh` makes a Rectangle artist per bar, each set up, bounded and drawn on
its own: about half of the matplotlib time of the report's figures at 100k
records (~1,400 bars). `hbars` draws the same rectangles (fill, edge and hatch
as barh takes them; the bar's base a sticky edge, as barh makes it, so the axis
starts there) as one PolyCollection, which keeps each bar's gid
(`strategy/...`, analysis/fig_parts.py) and geometry: `Bars.rectangles()` hands
them back as Rectangles, for a reader (or a test) to find a bar by what it shows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba_array
from matplotlib.patches import Rectangle


class Bars(PolyCollection):
    """The bars of one `hbars` call."""

    def __init__(self, *, left: np.ndarray, bottom: np.ndarray, width: np.ndarray,
                 height: np.ndarray, gids: Sequence[str], **style) -> None:
        self._boxes = np.column_stack([left, bottom, width, height])
        self._gids = list(gids)
        drawn = np.isfinite(self._boxes).all(axis=1)  # a bar of no value: nothing to draw
        x0, y0, x1, y1 = left[drawn], bottom[drawn], (left + width)[drawn], (bottom + height)[drawn]
        corners = np.stack([np.column_stack(p) for p in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))],
                           axis=1)
        faces = to_rgba_array(style.pop("facecolors"))
        self._faces = np.broadcast_to(faces, (len(drawn), 4)) if len(faces) == 1 else faces
        super().__init__(list(corners), closed=True, facecolors=self._faces[drawn], **style)
        self.sticky_edges.x.extend(left[drawn].tolist())

    def corners(self) -> np.ndarray:
        """The drawn bars' corners, (x, y) rows."""
        return np.concatenate([p.vertices for p in self.get_paths()]) if self.get_paths() \
            else np.empty((0, 2))

    def rectangles(self) -> list[Rectangle]:
        """Each bar as a Rectangle (not drawn) of these axes with its gid, fill, edge and
        hatch."""
        edges = self.get_edgecolor()
        out = []
        for i, ((x, y, w, h), gid) in enumerate(zip(self._boxes, self._gids, strict=True)):
            bar = Rectangle((x, y), w, h, facecolor=self._faces[i],
                            edgecolor=edges[i % len(edges)] if len(edges) else "none",
                            hatch=self.get_hatch())
            bar.set_gid(gid)
            bar.axes = self.axes
            out.append(bar)
        return out


def hbars(ax: Axes, y: Sequence[float], width: Sequence[float], *, gids: Sequence[str],
          color, left: float | Sequence[float] = 0.0, height: float = 0.8,
          edgecolor="none", linewidth: float | None = None, hatch: str | None = None) -> Bars:
    """Bars from `left` to `left + width`, `height` high and centred on `y`, as barh draws
    them (`color`: one colour or one per bar); `gids[i]` names bar i."""
    y = np.asarray(y, dtype="float64")
    width = np.asarray(width, dtype="float64")
    if not len(y) == len(width) == len(gids):
        raise ValueError(f"hbars takes one y, width and gid per bar: got {len(y)} y, "
                         f"{len(width)} widths, {len(gids)} gids")
    left = np.broadcast_to(np.asarray(left, dtype="float64"), y.shape)
    bars = Bars(left=left, bottom=y - height / 2, width=width,
                height=np.full(y.shape, float(height)), gids=gids, facecolors=color,
                edgecolors=edgecolor, linewidths=linewidth, hatch=hatch)
    # the data limits take the bars in, and the view follows them when next drawn
    # (autoscaling left on or off): add_collection's autolim applies the view at each call
    # (4 ms, most of a bar chart's drawing)
    ax.add_collection(bars, autolim=False)
    ax.update_datalim(bars.corners())
    ax.autoscale(enable=None)
    return bars
