"""Figures take a frame and return a Figure whose marks are the frame's numbers."""

import pandas as pd
import pytest
from drawn import children
from matplotlib.collections import PathCollection
from matplotlib.colors import to_hex
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from sweepdata import CONFIGS, make_record

from analysis import fig_history, fig_memory, fig_tradeoff
from analysis.analysis import Analysis, analyse
from results.frame import records_frame


@pytest.fixture(scope="module")
def frame():
    """tiny and small, every config, 2 and 4 ranks, partitions a and b; small's baseline on
    4 ranks ran out of memory."""
    return analyse(records_frame([
        make_record(model=m, stage=s, offload=o, world=w, partition=p,
                    speed=1.5 if p == "b" else 1.0,
                    status="oom" if (m, s, o, w) == ("small", 0, "none", 4) else "ok")
        for m in ("tiny", "small") for s, o in CONFIGS for w in (2, 4) for p in ("a", "b")])).frame


def of(rows) -> Analysis:
    """The analysis of rows of the enriched frame, as the report hands one to a figure."""
    return Analysis(frame=rows)


def marks(fig) -> dict[str, object]:
    return {a.get_gid(): a for ax in fig.axes for a in children(ax) if a.get_gid()}


def color_of(artist) -> str:
    if isinstance(artist, Line2D):
        return to_hex(artist.get_color())
    if isinstance(artist, PathCollection):
        return to_hex(artist.get_facecolor()[0])
    return to_hex(artist.get_facecolor())


def test_memory_vs_size_lines_are_the_medians_and_oom_is_marked(frame):
    one = frame[(frame["partition"] == "a") & (frame["world_size"] == 4)]
    fig = fig_memory.memory_vs_size_figure(of(one))
    found = marks(fig)
    line = found["zero_stage=3/line"]
    ok = one[(one["status"] == "ok") & (one["strategy"] == "zero_stage=3")]
    expected = ok.groupby("n_params")["peak_host_rss_bytes"].median()
    assert list(line.get_xdata()) == list(expected.index)
    assert list(line.get_ydata()) == pytest.approx(list(expected))
    assert "baseline/oom" in found  # small's baseline on 4 ranks
    assert fig.axes[0].get_xscale() == "log" and fig.axes[0].get_yscale() == "log"


def test_a_capacity_search_range_gets_round_ticks_and_its_oom_sizes_in_view(frame):
    """A capacity search's boundaries: sizes within one power of 10, peaks within one power
    of 2 (no log tick in view): round steps label both axes, and a size that only ran out
    of memory, above every ok one, lies inside the x range."""
    one = frame[(frame["partition"] == "a") & (frame["world_size"] == 4)]
    oom = one["status"] == "oom"  # small's baseline
    one = one.assign(
        n_params=one["model"].map({"tiny": 33_200_000, "small": 41_600_000}).where(
            ~oom, 48_000_000),
        peak_bytes=(540 + 90 * one["peak_bytes"] / one["peak_bytes"].max()) * 2**20)
    fig = fig_memory.memory_vs_size_figure(of(one))
    ax = fig.axes[0]
    for axis, limits in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
        shown = [v for v in axis.get_majorticklocs() if min(limits) <= v <= max(limits)]
        assert len(shown) >= 2, (shown, limits)
        assert all(axis.get_major_formatter()(v, 0) for v in shown)
    lo, hi = ax.get_xlim()
    assert lo <= 48_000_000 <= hi
    assert marks(fig)["baseline/oom"].get_offsets()[0][0] == 48_000_000


def test_breakdown_stacks_the_ledger_per_strategy(frame):
    one = frame[(frame["partition"] == "a") & (frame["world_size"] == 2)]
    fig = fig_memory.breakdown_figures(of(one))[0]
    found = marks(fig)
    small = one[(one["model"] == "small") & (one["strategy"] == "zero_stage=3")].iloc[0]
    ax = next(ax for ax in fig.axes if ax.get_title() == "small")
    bars = {g: a for g, a in found.items() if a.axes is ax}
    unit = _unit(ax)  # the panel's binary unit, from its axis label
    for category in ("params", "grads", "optimizer_state"):  # no breakdown: the ledger
        assert bars[f"zero_stage=3/{category}"].get_width() * unit == pytest.approx(
            small[f"{category}_bytes"])


def _unit(ax) -> float:
    name = ax.get_xlabel().split("[")[1].rstrip("]")
    return {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}[name]


def test_baseline_figure_bars_are_the_saved_and_cost_percentages(frame):
    one = frame[(frame["partition"] == "a") & (frame["world_size"] == 2)]
    table = of(one).vs_baseline
    fig = fig_tradeoff.baseline_figures(of(one))[0]
    found = marks(fig)
    reference = table[table["model"] == "small"].set_index("strategy")  # largest with a baseline
    for strategy, row in reference.iterrows():
        assert found[f"{strategy}/memory_saved_pct"].get_width() == pytest.approx(
            row["memory_saved_pct"])
        assert found[f"{strategy}/throughput_cost_pct"].get_width() == pytest.approx(
            row["throughput_cost_pct"])


def test_pareto_figure_rings_the_front(frame):
    one = frame[(frame["partition"] == "a") & (frame["world_size"] == 2)]
    fig = fig_tradeoff.pareto_figure(of(one))
    shown = {g for g in marks(fig)}
    table = of(one).pareto
    for row in table.itertuples():
        assert f"{row.strategy}/{'front' if row.on_front else 'dominated'}" in shown


def test_the_same_strategy_has_the_same_colour_on_every_figure(frame):
    one = frame[(frame["partition"] == "a") & (frame["world_size"] == 2)]
    colors = dict(zip(frame["strategy"], frame["color"], strict=True))
    for fig in (fig_memory.memory_vs_size_figure(of(one)), fig_tradeoff.pareto_figure(of(one)),
                fig_tradeoff.baseline_figures(of(one))[0], fig_history.hardware_figure(of(frame)),
                fig_tradeoff.scaling_figure(of(frame[frame["partition"] == "a"]))):
        for gid, artist in marks(fig).items():
            strategy = gid.split("/")[0]
            if gid.endswith(("/front", "/dominated", "/line", "/samples_per_s", "/peak",
                             "/memory_saved_pct")) or "/a/" in gid:
                assert color_of(artist) == to_hex(colors[strategy]), gid


def test_hardware_figure_puts_partitions_side_by_side(frame):
    fig = fig_history.hardware_figure(of(frame))
    found = marks(fig)
    a, b = found["zero_stage=3/a/samples_per_s"], found["zero_stage=3/b/samples_per_s"]
    assert isinstance(a, Rectangle) and b.get_width() == pytest.approx(1.5 * a.get_width())
    assert a.get_hatch() != b.get_hatch()


def test_trend_figure_needs_two_nights(frame):
    fig = fig_history.trend_figure(of(frame))
    assert any("fewer than two nights" in t.get_text() for t in fig.findobj(Text))
    later = frame.assign(night="2026-11-26", peak_bytes=frame["peak_bytes"] * 1.1)
    fig = fig_history.trend_figure(of(pd.concat([frame, later])))
    lines = marks(fig)
    up = lines["zero_stage=3/peak_bytes/a"].get_ydata()
    assert up[-1] - up[0] == pytest.approx(100 * (1.1 - 1) / 1.05, rel=1e-6)  # vs the median


def test_a_frame_without_ok_runs_says_so():
    frame = records_frame([make_record(model="tiny", stage=1, offload="none", status="oom")])
    for make in (fig_memory.memory_vs_size_figure, lambda a: fig_memory.breakdown_figures(a)[0],
                 fig_tradeoff.pareto_figure, lambda a: fig_tradeoff.baseline_figures(a)[0]):
        fig = make(analyse(frame))
        assert not marks(fig)
        assert any("ok" in t.get_text() for t in fig.findobj(Text))
