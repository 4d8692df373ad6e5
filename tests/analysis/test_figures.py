import re

import pytest
from matplotlib.colors import to_rgba
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from sweepdata import make_record, write_sweep

from analysis import figures
from analysis.style import COMPONENTS, STAGE_COLORS
from analysis.units import byte_unit
from results.frame import records_frame
from results.load import load_records

UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}


@pytest.fixture
def frame(sweep_dir):
    return records_frame(load_records(sweep_dir)[0])


def bars(fig) -> dict[str, tuple[Rectangle, object]]:
    """gid -> (bar, its axes) for every bar that shows a configuration."""
    return {p.get_gid(): (p, ax) for ax in fig.axes for p in ax.patches if p.get_gid()}


def unit(ax) -> float:
    return UNITS[re.search(r"\[(\w+)\]", ax.get_ylabel()).group(1)]


def ok_rows(frame):
    return frame[frame["status"] == "ok"].itertuples()


def texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text)]


def test_peak_memory_bars_are_the_frames_host_rss_on_cpu(frame):
    fig = figures.peak_memory_figure(frame)
    shown = bars(fig)
    assert len(shown) == 12
    for r in ok_rows(frame):
        bar, ax = shown[f"{r.model}/{r.zero_stage}/{r.offload_optimizer}"]
        assert bar.get_height() * unit(ax) == pytest.approx(r.peak_host_rss_bytes)
        assert "host RSS" in ax.get_ylabel()
        assert bar.get_facecolor() == to_rgba(STAGE_COLORS[r.zero_stage])
        assert bool(bar.get_hatch()) == (r.offload_optimizer == "cpu")


def test_configurations_without_an_ok_run_show_their_status(frame):
    shown = texts(figures.peak_memory_figure(frame))
    assert any("OOM" in t for t in shown) and any("FAILED" in t for t in shown)


def test_model_panels_are_ordered_by_parameter_count_not_name(frame):
    titles = [ax.get_title() for ax in figures.throughput_figure(frame).axes]
    assert [t.split()[0] for t in titles] == ["tiny", "small"]
    assert "561k parameters" in titles[0]


def test_throughput_bars_are_the_frames_samples_per_s(frame):
    shown = bars(figures.throughput_figure(frame))
    assert len(shown) == 12
    for r in ok_rows(frame):
        bar, _ = shown[f"{r.model}/{r.zero_stage}/{r.offload_optimizer}"]
        assert bar.get_height() == pytest.approx(r.samples_per_s)


def test_ledger_stacks_are_the_frames_bytes_per_component(frame):
    shown = bars(figures.ledger_figure(frame))
    assert len(shown) == 12 * len(COMPONENTS)
    for r in ok_rows(frame):
        for column in COMPONENTS:
            bar, ax = shown[f"{r.model}/{r.zero_stage}/{r.offload_optimizer}/{column}"]
            assert bar.get_height() * unit(ax) == pytest.approx(getattr(r, column))
    # ZeRO-3 shards the parameters: half of stage 0's on 2 ranks
    z0, z3 = (shown[f"tiny/{s}/none/params_bytes"][0].get_height() for s in (0, 3))
    assert z3 == pytest.approx(z0 / 2)


def test_gpu_runs_show_peak_device_allocated(tmp_path):
    write_sweep(tmp_path, models=("tiny",), device="cuda", corrupt=False)
    frame = records_frame(load_records(tmp_path)[0])
    fig = figures.peak_memory_figure(frame)
    shown = bars(fig)
    for r in ok_rows(frame):
        bar, ax = shown[f"{r.model}/{r.zero_stage}/{r.offload_optimizer}"]
        assert bar.get_height() * unit(ax) == pytest.approx(r.peak_device_bytes)
        assert "device memory allocated" in ax.get_ylabel()


def test_a_frame_without_ok_runs_shows_the_statuses_or_says_so(tmp_path):
    frame = records_frame([make_record(model="tiny", stage=1, offload="none", status="oom")])
    for make in (figures.peak_memory_figure, figures.throughput_figure):
        fig = make(frame)
        assert not bars(fig) and any("OOM" in t for t in texts(fig))
    fig = figures.ledger_figure(frame)
    assert not bars(fig) and any("no ok runs" in t for t in texts(fig))


def test_the_unit_fits_the_values(frame):
    fig = figures.peak_memory_figure(frame)
    assert all("[MiB]" in ax.get_ylabel() for ax in fig.axes)
    assert byte_unit(3 * 1024**3) == (1024**3, "GiB")


