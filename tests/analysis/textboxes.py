"""Overlapping text on a page: every text a Figure draws, and the pairs whose boxes cross.

The texts are the ones drawn (Text.draw is watched during one Agg draw), so tick
labels outside an axis' view and annotations off their axes do not count.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

DPI = 40  # low: the text layout is the same, the rasterising cheaper
TOLERANCE = 1.0  # pixels at DPI that two boxes may share (antialiased edges, rounding)


@dataclass(frozen=True)
class Overlap:
    first: str
    second: str
    pixels: tuple[float, float]  # width and height of the shared box at DPI

    def __str__(self) -> str:
        return f"{self.first!r} x {self.second!r} ({self.pixels[0]:.0f}x{self.pixels[1]:.0f} px)"


@contextmanager
def _watching(drawn: list[Text]):
    original = Text.draw

    def draw(self, renderer):
        original(self, renderer)
        if self.get_visible() and self.get_text().strip():
            drawn.append(self)

    Text.draw = draw
    try:
        yield
    finally:
        Text.draw = original


def drawn_boxes(fig: Figure) -> list[tuple[Text, Bbox]]:
    """Every visible non-empty text the figure draws, with its box in pixels at DPI."""
    fig.set_dpi(DPI)
    drawn: list[Text] = []
    with _watching(drawn):
        fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    unique = list({id(t): t for t in drawn}.values())
    return [(t, t.get_window_extent(renderer)) for t in unique]


def overlaps(fig: Figure, tolerance: float = TOLERANCE) -> list[Overlap]:
    """Pairs of drawn texts whose boxes share more than `tolerance` pixels each way."""
    boxes = sorted(drawn_boxes(fig), key=lambda tb: tb[1].x0)
    found = []
    for i, (t, a) in enumerate(boxes):
        for u, b in boxes[i + 1:]:
            if b.x0 >= a.x1 - tolerance:
                break  # sorted by x0: no later box reaches back into a
            w = min(a.x1, b.x1) - max(a.x0, b.x0)
            h = min(a.y1, b.y1) - max(a.y0, b.y0)
            if w > tolerance and h > tolerance:
                found.append(Overlap(t.get_text(), u.get_text(), (w, h)))
    return found
