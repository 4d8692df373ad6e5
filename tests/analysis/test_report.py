import re

import numpy as np
import pytest
from drawn import children
from matplotlib.collections import PathCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from pypdf import PdfReader
from sweepdata import FAILURES, make_record, write_sweep

from analysis import pages, sections
from analysis.analysis import analyse
from analysis.pdf_parts import add_footers
from analysis.report import Page, make_report, report_pages, sweep_name
from analysis.sources import load_sources
from analysis.style import new_page
from bench.synthetic import History, write_history
from memsweep.cli import main
from results.frame import records_frame
from results.store import runs_dir
from suite.errors import UserInputError

SECTIONS = ["Title and contents", "Summary of findings", "Strategies vs baseline",
            "Memory vs model size", "Memory breakdown", "Predicted vs measured",
            "Largest model that fits", "Pareto front: throughput vs memory",
            "Scaling with the world size", "Nightly trends", "Nightly regressions",
            "Partitions side by side", "Failures and quarantined files",
            "Appendix: every scenario"]
FIGURE_SECTIONS = {"Strategies vs baseline", "Memory vs model size", "Memory breakdown",
                   "Predicted vs measured", "Largest model that fits",
                   "Pareto front: throughput vs memory", "Scaling with the world size",
                   "Nightly trends", "Nightly regressions", "Partitions side by side"}


def pdf_pages(path) -> int:
    return len(re.findall(rb"/Type /Page\b(?!s)", path.read_bytes()))


def texts(figs) -> str:
    return "\n".join(t.get_text() for fig in figs for t in fig.findobj(Text))


def marks_in_view(ax) -> int:
    """Data marks of `ax` that lie (at least partly) inside its view: lines' points, bars,
    scatter points. A panel whose data all fell outside its limits counts 0."""
    (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())

    def inside(x, y) -> bool:
        return bool(np.any((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)))

    count = 0
    for artist in children(ax):
        if not artist.get_gid() or not artist.get_visible():
            continue
        if isinstance(artist, Line2D):
            xy = np.asarray(artist.get_xydata(), dtype=float)  # in the axes' units (dates too)
            count += inside(xy[:, 0], xy[:, 1])
        elif isinstance(artist, Rectangle):
            w, h = artist.get_width(), artist.get_height()
            xs = np.array([artist.get_x(), artist.get_x() + w])
            ys = np.array([artist.get_y(), artist.get_y() + h])
            count += bool(w and h) and bool(xs.max() >= x0 and xs.min() <= x1
                                            and ys.max() >= y0 and ys.min() <= y1)
        elif isinstance(artist, PathCollection):
            offsets = np.asarray(artist.get_offsets(), dtype=float)
            count += bool(len(offsets)) and (artist.get_transform() != ax.transData or inside(
                offsets[:, 0], offsets[:, 1]))
    return count


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """3 nights x 2 partitions; the last night of gpu-h100 10% worse in memory and speed."""
    root = tmp_path_factory.mktemp("history")
    shape = History(nights=3, models=("125m", "350m", "1.3b"), world_sizes=(8, 16),
                    strategies=((0, "none", "fp32", "adamw"), (1, "none", "bf16", "adamw"),
                                (3, "none", "bf16", "adamw"), (3, "cpu", "bf16", "adamw")),
                    repetitions=1, plant={"memory": 1.10, "throughput": 0.90},
                    failure_rate=0.05)
    write_history(root, shape)
    return root


@pytest.fixture(scope="module")
def report(history):
    """The report's pages over the history, with fewer table pages to keep the test quick
    (the PDF itself is tested on a smaller report below)."""
    caps = {"MAX_TABLE_PAGES": 1, "MAX_APPENDIX_PAGES": 1, "MAX_SETUP_PAGES": 1}
    old = {k: getattr(sections, k) for k in caps}
    for k, v in caps.items():
        setattr(sections, k, v)
    try:
        return report_pages(load_sources([history]))
    finally:
        for k, v in old.items():
            setattr(sections, k, v)


def test_report_over_nights_and_partitions_has_every_section(report):
    assert list(dict.fromkeys(p.title for p in report)) == SECTIONS


def test_no_figure_is_blank(report):
    made = report
    drawn = set()
    for page in made:
        if not page.figure.axes:  # a page of text: it says something
            assert len(texts([page.figure])) > 200, page.title
            continue
        counts = [marks_in_view(ax) for ax in page.figure.axes]
        assert sum(c > 0 for c in counts) >= len(counts) / 2, (page.title, counts)
        drawn.add(page.title)
    assert drawn == FIGURE_SECTIONS


def test_figures_draw_marks_of_the_strategies_run(report):
    made = report
    for page in made:
        gids = {a.get_gid() for ax in page.figure.axes for a in children(ax) if a.get_gid()}
        if page.title in FIGURE_SECTIONS and page.figure.axes:
            shown = {g.split("/")[0] for g in gids}
            assert shown & {"baseline", "zero_stage=3 + precision=bf16"}, page.title


def test_title_page_has_nights_partitions_fingerprints_and_contents(report):
    made = report
    text = texts([made[0].figure])
    for expected in ("3 nights, 2026-11-20 to 2026-11-22", "gpu-a100, gpu-h100",
                     "NVIDIA H100 80GB HBM3", "2.13.0+cu128", "git commit", "Contents",
                     "Nightly regressions", "Appendix: every scenario"):
        assert expected in text, expected


def test_the_planted_regression_is_on_the_nightly_pages(report):
    made = report
    text = texts([p.figure for p in made if p.title == "Nightly regressions"])
    assert "REGRESSION" in text and "gpu-h100" in text
    summary = texts([p.figure for p in made if p.title == "Summary of findings"])
    assert "regressions in the latest night (2026-11-22)" in summary


def test_report_drawn_by_two_processes_is_the_report_drawn_by_one(sweep_dir, tmp_path):
    one = make_report([sweep_dir], tmp_path / "one.pdf", workers=1)
    two = make_report([sweep_dir], tmp_path / "two.pdf", workers=2)
    assert one == two and len(set(one)) > 8

    def text(name: str) -> list[str]:  # the minute the report was made aside
        reader = PdfReader(tmp_path / name)
        assert reader.metadata.title == "memsweep report: sweep smoke"
        return [re.sub(r"report made.*UTC", "", p.extract_text()) for p in reader.pages]

    assert text("one.pdf") == text("two.pdf")
    assert sorted(p.name for p in tmp_path.glob("*.pdf")) == ["one.pdf", "two.pdf"]
    assert not list(tmp_path.glob(".*"))


def test_all_failed_sweep_still_makes_a_pdf_report(tmp_path):
    write_sweep(tmp_path / "s", models=("tiny",), all_status="failed")
    titles = make_report([tmp_path / "s"], tmp_path / "r.pdf")
    assert titles[:2] == ["Title and contents", "No ok runs"]
    assert set(titles[2:]) == {"Failures and quarantined files", "Appendix: every scenario"}
    data = (tmp_path / "r.pdf").read_bytes()
    assert pdf_pages(tmp_path / "r.pdf") == len(titles)
    assert not list(tmp_path.glob(".*.tmp"))
    meta = PdfReader(tmp_path / "r.pdf").metadata
    assert (meta.title, meta.author) == ("memsweep report: sweep smoke", "memsweep")
    assert re.search(rb"/MediaBox \[ 0 0 841\.6\d* 595\.4\d* \]", data)  # A4 landscape


def test_failures_pages_list_every_non_ok_run_and_quarantined_file(sweep_dir):
    sources = load_sources([sweep_dir])
    text = texts(sections.failures(analyse(sources.frame), sources))
    frame = sources.frame
    for r in frame[frame["status"] != "ok"].itertuples():
        assert r.run_id in text and f"[{r.status.upper()}]" in text
    assert "failed: rank 1 exited with code 1" in text
    assert "RuntimeError: gloo: connection reset by peer $x$" in text  # log tail, '$' kept
    assert "0badc0ffee.json" in text and "Quarantined files" in text


def test_failures_page_says_so_when_all_is_well(tmp_path):
    write_sweep(tmp_path, models=("tiny",), corrupt=False)
    sources = load_sources([tmp_path])
    assert "Every run is ok and no file was quarantined." in texts(
        sections.failures(analyse(sources.frame), sources))


def test_long_failure_lists_go_on_over_pages_without_splitting_a_run():
    blocks = [[f"[FAILED] run {i}", *(f"    | line {j}" for j in range(8)), ""]
              for i in range(12)]
    figs = pages.text_pages(blocks, "Failures")
    per_page = pages.LINES_PER_PAGE // 10
    assert len(figs) == -(-12 // per_page)
    first = texts(figs[:1])
    assert f"[FAILED] run {per_page - 1}\n" in first and f"run {per_page}\n" not in first
    assert figs[1].texts[0].get_text() == f"Failures (2/{len(figs)})"
    capped = pages.text_pages(blocks, "Failures", max_pages=1, what="failures")
    assert len(capped) == 1 and f"{12 - per_page} more failures" in texts(capped)


def test_long_tables_are_capped_and_say_what_they_left_out():
    import pandas as pd

    table = pd.DataFrame({"n": range(100)})
    figs = pages.table_pages(table, "T", max_pages=2, what="rows")
    assert len(figs) == 2
    assert f"{100 - 2 * pages.ROWS_PER_PAGE} more rows" in texts(figs[-1:])


def test_cli_report_of_a_folder_with_only_a_corrupt_file(tmp_path, capsys):
    runs_dir(tmp_path).mkdir()
    (runs_dir(tmp_path) / "x.json").write_text("[]")
    assert main(["report", str(tmp_path)]) == 0
    assert pdf_pages(tmp_path / "report.pdf") == 3  # title, "no run records", failures
    assert "report:" in capsys.readouterr().out


def test_cli_rejects_a_folder_that_is_not_a_sweep_output(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope"), "-o", str(tmp_path / "r.pdf")]) == 2
    assert "fix:" in capsys.readouterr().err
    with pytest.raises(UserInputError):
        load_sources([])


def test_cli_report_takes_the_device_capacity(sweep_dir, tmp_path, capsys):
    assert main(["report", str(sweep_dir), "--capacity", "lots"]) == 2
    assert "--capacity" in capsys.readouterr().err
    assert main(["report", str(sweep_dir), "-o", str(tmp_path / "r.pdf"),
                 "--capacity", "1GiB"]) == 0
    text = "".join(p.extract_text() for p in PdfReader(tmp_path / "r.pdf").pages)
    assert "Measured, then predicted past the largest size run; device memory 1 GiB" in text


def test_a_report_that_is_not_a_pdf_is_a_user_error(sweep_dir, tmp_path):
    with pytest.raises(UserInputError, match="report.pdf"):
        make_report([sweep_dir], tmp_path / "report.png")


def test_cli_collect_with_a_bad_suffix_exits_2(sweep_dir, tmp_path):
    assert main(["collect", str(sweep_dir), "-o", str(tmp_path / "runs.txt")]) == 2


def test_footers_number_every_page():
    report = [Page(f"p{i}", new_page(f"p{i}")) for i in range(3)]
    add_footers(report, "memsweep report · sweep smoke · 2026-11-25")
    assert "page 3 of 3" in texts([report[2].figure])
    assert "sweep smoke · 2026-11-25" in texts([report[0].figure])


def test_frame_of_records_from_two_sweeps_names_both():
    records = [make_record(model="tiny", stage=0, offload="none", sweep=s)
               for s in ("nightly", "smoke")]
    assert sweep_name(records_frame(records)) == "nightly, smoke"


def test_a_small_sweep_makes_the_strategy_sections(sweep_dir):
    titles = [p.title for p in report_pages(load_sources([sweep_dir]))]
    assert {"Summary of findings", "Strategies vs baseline", "Pareto front: throughput vs "
            "memory", "Failures and quarantined files"} <= set(titles)
    assert not {"Nightly trends", "Partitions side by side"} & set(titles)  # one of each
    assert FAILURES  # the fixture's failures are on its failures page (tested above)
