"""hbars draws what Axes.barh draws, as one collection: the same rectangles, colours,
hatch and axis limits, each bar found by its gid."""

import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from analysis.bars import Bars, hbars


@pytest.mark.parametrize("left", [0.0, [1.0, -2.0, 0.5]])
def test_hbars_matches_barh(left):
    fig = Figure()
    ours, theirs = fig.subplots(1, 2)
    y, width = [0, 1, 2.5], [3.0, 1.5, 4.0]
    style = {"height": 0.7, "color": ["red", "#00ff00", "blue"], "edgecolor": "black",
             "linewidth": 0.4, "hatch": "///"}
    bars = hbars(ours, y, width, left=left, gids=["a/x", "b/x", "c/x"], **style)
    expected = theirs.barh(y, width, left=left, **style)
    assert ours.get_xlim() == pytest.approx(theirs.get_xlim())
    assert ours.get_ylim() == pytest.approx(theirs.get_ylim())
    assert [child for child in ours.get_children() if isinstance(child, Bars)] == [bars]
    for got, want, gid in zip(bars.rectangles(), expected, ["a/x", "b/x", "c/x"], strict=True):
        assert got.get_gid() == gid and got.axes is ours
        assert got.get_bbox().bounds == pytest.approx(want.get_bbox().bounds)
        assert to_rgba(got.get_facecolor()) == to_rgba(want.get_facecolor())
        assert to_rgba(got.get_edgecolor()) == to_rgba(want.get_edgecolor())
        assert got.get_hatch() == want.get_hatch()


def test_hbars_of_no_bars_and_of_a_bar_without_a_value():
    ax = Figure().subplots()
    assert hbars(ax, [], [], gids=[], color="red").rectangles() == []
    bars = hbars(ax, [0, 1], [2.0, np.nan], gids=["a", "b"], color="red")
    assert len(bars.get_paths()) == 1  # nothing drawn for NaN, as barh draws nothing
    assert [r.get_gid() for r in bars.rectangles()] == ["a", "b"]
    with pytest.raises(ValueError, match="one y, width and gid per bar"):
        hbars(ax, [0], [1.0, 2.0], gids=["a"], color="red")
