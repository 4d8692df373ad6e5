"""No two texts on a page of the report overlap, at the width of real sweeps: the 41 runs of
suite/sweeps/strategies.toml (about 30 strategy labels, some 60 characters long) and a
nightly-shaped history (partitions, world sizes, nine strategies, sizes up to 6.7b)."""

from pathlib import Path

import pytest
from sweepdata import scenario_record
from textboxes import overlaps

from analysis.pdf_parts import add_footers
from analysis.report import report_pages
from analysis.sources import load_sources
from bench.synthetic import STRATEGIES, History, write_history
from results.store import write_record
from suite.sweep import load_sweep

SWEEP = Path(__file__).resolve().parents[2] / "suite" / "sweeps" / "strategies.toml"


def strategies_sweep(root) -> None:
    """Every scenario of the real strategies sweep, as they end on this machine: NVMe offload
    of the parameters out of memory, one run failed."""
    for i, scenario in enumerate(load_sweep(SWEEP).scenarios):
        status = "oom" if scenario["offload_param"] == "nvme" else "failed" if i == 20 else "ok"
        write_record(root, scenario_record(scenario, status=status))


def nightly(root) -> None:
    write_history(root, History(nights=3, models=("125m", "350m", "1.3b", "6.7b"),
                                strategies=STRATEGIES, repetitions=1, failure_rate=0.02,
                                plant={"memory": 1.10, "throughput": 0.90}))


@pytest.mark.parametrize("make", [strategies_sweep, nightly])
def test_no_two_texts_on_a_page_overlap(make, tmp_path):
    make(tmp_path / "sweep")
    report = report_pages(load_sources([tmp_path / "sweep"]))
    add_footers(report, "memsweep report · sweep x · 2026-11-20 to 2026-11-22")
    found = {f"page {i} ({page.title})": overlaps(page.figure)
             for i, page in enumerate(report, start=1)}
    found = {page: crossing for page, crossing in found.items() if crossing}
    assert not found, "\n".join(f"{page}: {len(crossing)} overlaps, e.g. "
                                + "; ".join(map(str, crossing[:3]))
                                for page, crossing in found.items())
