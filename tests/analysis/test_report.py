import re

import pytest
from matplotlib.text import Text
from sweepdata import FAILURES, make_record, write_sweep

from analysis import pages
from analysis.grouping import facets
from analysis.report import Page, add_footers, failure_pages, make_report
from analysis.sources import load_sources
from analysis.style import new_page
from results.frame import records_frame
from results.store import runs_dir, write_record
from suite.cli import main
from suite.errors import UserInputError


def pdf_pages(path) -> int:
    return len(re.findall(rb"/Type /Page\b(?!s)", path.read_bytes()))


def texts(figs) -> str:
    return "\n".join(t.get_text() for fig in figs for t in fig.findobj(Text))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    write_sweep(root / "smoke", failures=FAILURES)
    titles = make_report([root / "smoke"], root / "out" / "report.pdf")
    return titles, root / "out" / "report.pdf"


def test_report_has_the_expected_pages(report):
    titles, pdf = report
    assert titles == ["Title and contents", "Summary table", "Peak memory per rank",
                      "Memory held per rank", "Throughput", "Failures and quarantined files"]
    assert pdf_pages(pdf) == len(titles)
    assert not list(pdf.parent.glob(".*.tmp"))


def test_report_sets_pdf_metadata_and_a4_pages(report):
    data = report[1].read_bytes()
    assert b"/Title (memsweep report: sweep smoke)" in data
    assert b"/Author (memsweep)" in data
    assert re.search(rb"/MediaBox \[ 0 0 841\.6\d* 595\.4\d* \]", data)  # A4 landscape


def test_failures_page_lists_every_non_ok_run_and_quarantined_file(sweep_dir):
    sources = load_sources([sweep_dir])
    text = texts(p.figure for p in failure_pages(sources))
    frame = sources.frame
    for r in frame[frame["status"] != "ok"].itertuples():
        assert r.run_id in text and f"[{r.status.upper()}]" in text
    assert "failed: rank 1 exited with code 1" in text
    assert "RuntimeError: gloo: connection reset by peer $x$" in text  # log tail, '$' kept
    assert "0badc0ffee.json" in text and "Quarantined files" in text


def test_failures_page_says_so_when_all_is_well(tmp_path):
    write_sweep(tmp_path, models=("tiny",), corrupt=False)
    pages = failure_pages(load_sources([tmp_path]))
    assert "Every run is ok and no file was quarantined." in texts(p.figure for p in pages)


def test_all_failed_sweep_still_makes_a_report(tmp_path):
    write_sweep(tmp_path / "s", models=("tiny",), all_status="failed")
    titles = make_report([tmp_path / "s"], tmp_path / "r.pdf")
    assert titles[:3] == ["Title and contents", "Summary table", "No ok runs"]
    assert titles[3:] and all(t.startswith("Failures and quarantined files") for t in titles[3:])
    assert pdf_pages(tmp_path / "r.pdf") == len(titles)


def test_long_failure_lists_go_on_over_pages_without_splitting_a_run():
    blocks = [[f"[FAILED] run {i}", *(f"    | line {j}" for j in range(8)), ""]
              for i in range(12)]
    figs = pages.text_pages(blocks, "Failures")
    per_page = pages.LINES_PER_PAGE // 10
    assert len(figs) == -(-12 // per_page)
    first = texts(figs[:1])
    assert f"[FAILED] run {per_page - 1}\n" in first and f"run {per_page}\n" not in first
    assert figs[1].texts[0].get_text() == f"Failures (2/{len(figs)})"


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


def test_a_report_that_is_not_a_pdf_is_a_user_error(sweep_dir, tmp_path):
    with pytest.raises(UserInputError, match="report.pdf"):
        make_report([sweep_dir], tmp_path / "report.png")


def test_cli_collect_with_a_bad_suffix_exits_2(sweep_dir, tmp_path):
    assert main(["collect", str(sweep_dir), "-o", str(tmp_path / "runs.txt")]) == 2


def test_each_facet_gets_its_own_pages(tmp_path):
    for world in (2, 4):
        for stage in (0, 3):
            write_record(tmp_path, make_record(model="tiny", stage=stage, offload="none",
                                               world=world))
    found = facets(load_sources([tmp_path]).frame)
    assert [f.label for f in found] == ["2 ranks", "4 ranks"]
    assert all(len(f.rows) == 2 for f in found)
    assert "fp32" in found[0].description and "cpu" in found[0].description


def test_footers_number_every_page():
    report = [Page(f"p{i}", new_page(f"p{i}")) for i in range(3)]
    add_footers(report, "memsweep report · sweep smoke · 2026-11-25")
    assert "page 3 of 3" in texts([report[2].figure])
    assert "sweep smoke · 2026-11-25" in texts([report[0].figure])


def test_frame_of_records_from_two_sweeps_names_both(tmp_path):
    records = [make_record(model="tiny", stage=0, offload="none", sweep=s)
               for s in ("nightly", "smoke")]
    from analysis.report import sweep_name

    assert sweep_name(records_frame(records)) == "nightly, smoke"
