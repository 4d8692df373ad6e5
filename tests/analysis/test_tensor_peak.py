"""The frame and the report read the peak of tensor memory: its columns, the breakdown page,
the predicted-vs-measured page and the CPU summary's sentence on what the RSS adds."""

import pytest
from sweepdata import CONFIGS, make_record
from test_figures import marks

from analysis import fig_memory
from analysis.analysis import Analysis, analyse
from analysis.findings import findings
from analysis.tidy import peak_what
from results import frame_peaks
from results.frame import records_frame
from results.schema import OomInfo, PhasePeak, replace


@pytest.fixture(scope="module")
def records():
    return [make_record(model=m, stage=s, offload=o, tensor_peaks=True)
            for m in ("tiny", "small") for s, o in CONFIGS]


@pytest.fixture(scope="module")
def runs(records):
    return records_frame(records)


@pytest.fixture(scope="module")
def frame(runs):
    return analyse(runs).frame


def test_the_breakdowns_add_up_to_the_peaks_of_the_largest_rank(records):
    record = records[-1]  # small, ZeRO-3 + offload
    row = records_frame([record]).iloc[0]
    top = max(record.ranks, key=lambda k: k.tensor_peak_bytes)
    assert row["tensor_peak_bytes"] == top.tensor_peak_bytes
    assert sum(row[c] for c in frame_peaks.MEASURED_BREAKDOWN) == top.tensor_peak_bytes
    assert row["tensor_peak_phase"] == top.tensor_peak_phase
    predicted = max((k.predicted for k in record.ranks), key=lambda p: p.peak_bytes)
    assert sum(row[c] for c in frame_peaks.PREDICTED_BREAKDOWN) == predicted.peak_bytes \
        == row["predicted_peak_bytes"]
    assert row["predicted_peak_phase"] == predicted.peak_phase
    for phase in frame_peaks.PREDICTED_PHASES:
        assert row[f"predicted_peak_{phase}_bytes"] == max(
            k.predicted.phase_peak_bytes[phase] for k in record.ranks)
    assert row["predicted_activation_bytes"] == predicted.ops_activation_bytes > 0


def test_phase_peaks_throughput_and_oom_details_are_columns(records):
    record = records[0]
    ranks = tuple(replace(k, phases=(
        PhasePeak(phase="init", host_rss_bytes=100 + k.rank, host_rss_start_bytes=1,
                  tensor_peak_bytes=10 + k.rank),
        PhasePeak(phase="timed", host_rss_bytes=300 + k.rank, host_rss_start_bytes=1)),
        activation_bytes=7 + k.rank) for k in record.ranks)
    m = replace(record.measurements, step_time_cv=0.05, stable=True, tflops_per_rank=0.5,
                peak_tflops=2.0, mfu=0.25, flops_per_token=1e6)
    oom = OomInfo(rank=1, phase="step", kind="host", reached_bytes=900, limit_bytes=1000)
    row = records_frame([replace(record, ranks=ranks, measurements=m, oom=oom)]).iloc[0]
    assert (row["tensor_peak_init_bytes"], row["host_rss_init_bytes"],
            row["host_rss_timed_bytes"]) == (11, 101, 301)
    assert row["tensor_peak_warmup_bytes"] is None or row.isna()["tensor_peak_warmup_bytes"]
    assert row["activation_bytes"] == 8
    assert (row["step_time_cv"], row["tflops_per_rank"], row["peak_tflops"], row["mfu"],
            row["flops_per_token"]) == (0.05, 0.5, 2.0, 0.25, 1e6)
    assert bool(row["stable"]) is True
    assert (row["oom_rank"], row["oom_reached_bytes"], row["oom_limit_bytes"]) == (1, 900, 1000)


def test_on_the_cpu_the_peak_is_the_tensor_peak(frame):
    assert (frame["peak_bytes"] == frame["tensor_peak_bytes"]).all()
    assert (frame["rss_extra_bytes"]
            == frame["peak_host_rss_bytes"] - frame["tensor_peak_bytes"]).all()
    assert peak_what(frame) == "peak tensor memory"


def test_the_breakdown_page_stacks_the_measured_breakdown_and_marks_the_prediction(frame):
    fig = fig_memory.breakdown_figures(Analysis(frame=frame))[0]
    ax = next(ax for ax in fig.axes if ax.get_title() == "small")
    found = {g: a for g, a in marks(fig).items() if a.axes is ax}
    row = frame[(frame["model"] == "small") & (frame["strategy"] == "zero_stage=3")].iloc[0]
    unit = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}[
        ax.get_xlabel().split("[")[1].rstrip("]")]
    for category in frame_peaks.CATEGORIES:
        assert found[f"zero_stage=3/{category}"].get_width() * unit == pytest.approx(
            row[f"tensor_peak_{category}_bytes"])
    assert found["zero_stage=3/peak"].get_xdata()[0] * unit == pytest.approx(
        row["tensor_peak_bytes"])
    assert found["zero_stage=3/predicted"].get_xdata()[0] * unit == pytest.approx(
        row["predicted_peak_bytes"])


def test_predicted_vs_measured_plots_the_tensor_peak_against_the_predicted_peak(frame):
    fig = fig_memory.predicted_figure(Analysis(frame=frame))
    points = marks(fig)["zero_stage=2/measured_peak"].get_offsets()
    rows = frame[frame["strategy"] == "zero_stage=2"]
    assert sorted(map(tuple, points.tolist())) == sorted(
        zip(rows["predicted_peak_bytes"].astype(float), rows["tensor_peak_bytes"].astype(float),
            strict=True))
    ratio = frame["tensor_peak_bytes"] / frame["predicted_peak_bytes"]
    text = marks(fig)["measured_peak/ratio"].get_text()
    assert f"{ratio.min():.3f} to {ratio.max():.3f}" in text


def test_the_cpu_summary_says_what_the_rss_adds(runs, frame):
    found = findings(analyse(runs))
    saving = next(f for f in found if f.section == "Strategies vs baseline")
    assert "peak tensor memory" in saving.text
    rss = [f for f in found if "peak host RSS" in f.text]
    assert len(rss) == 1
    held = [f for f in found if "model states" in f.text]  # the ledger, without RSS's excuse
    assert len(held) == 1 and "runtime" not in held[0].text
    v = rss[0].values
    ok = frame[frame["model"] == v["model"]]
    extra = ok.groupby("strategy")["rss_extra_bytes"].median()
    assert (v["rss_extra_min"], v["rss_extra_max"]) == (extra.min(), extra.max())



def test_predicted_vs_measured_says_when_no_run_has_a_tensor_peak():
    old = analyse(records_frame([make_record(model="tiny", stage=s, offload="none")
                                 for s in (0, 3)])).frame
    fig = fig_memory.predicted_figure(Analysis(frame=old))
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "no run holds both figures" in texts
    assert "model states held (ledger)" in [ax.get_title() for ax in fig.axes]
