"""The marks of an axes as a reader sees them: each bar of a Bars collection
(analysis/bars.py) as a Rectangle of its own, with its gid."""

from __future__ import annotations

from analysis.bars import Bars


def children(ax) -> list:
    """`ax`'s artists, every Bars collection replaced by its bars."""
    out = []
    for artist in ax.get_children():
        out += artist.rectangles() if isinstance(artist, Bars) else [artist]
    return out
