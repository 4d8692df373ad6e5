"""`memsweep report`: assemble the pages and save them as one PDF (the only place that saves).

Pages: title (sweep, dates, hosts, versions, contents), summary table, then per
facet (world size, precision, ... held fixed) peak memory per rank, memory held
per rank and throughput, and last the failures and quarantined files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from analysis import figures, pages, tables
from analysis.grouping import facets, ok_runs
from analysis.sources import Sources, load_sources
from analysis.style import FAIL_COLOR, FOOTER_BAND, styled
from suite.errors import UserInputError

# The figure pages of each facet, in order: (contents title, frame -> Figure).
FIGURES = (("Peak memory per rank", figures.peak_memory_figure),
           ("Memory held per rank", figures.ledger_figure),
           ("Throughput", figures.throughput_figure))


@dataclass(frozen=True)
class Page:
    title: str  # as listed in the contents
    figure: Figure


def make_report(dirs: list[Path], output: Path) -> list[str]:
    """Write the PDF report of the sweep folders `dirs` to `output`; return the page titles."""
    output = Path(output)
    if output.suffix.lower() != ".pdf":
        raise UserInputError(f"the report is a PDF, but {output.name!r} does not end in .pdf",
                             source=str(output), fix=f"write e.g. -o {output.stem}.pdf")
    sources = load_sources(dirs)
    report = report_pages(sources)
    sweep, date = sweep_name(sources.frame), run_date(sources.frame)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    try:
        with styled(), PdfPages(tmp, metadata=_metadata(sweep)) as pdf:
            add_footers(report, f"memsweep report · sweep {sweep} · {date}")
            for page in report:
                pdf.savefig(page.figure)
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    return [p.title for p in report]


def report_pages(sources: Sources) -> list[Page]:
    """Every page of the report, in order, title page first."""
    frame = sources.frame
    body = []
    if frame.empty:
        body.append(Page("No run records", pages.message_page(
            "No run records", "No run records found",
            "The folders hold no valid run record: " + ", ".join(map(str, sources.dirs)))))
    else:
        body += _titled("Summary table", pages.table_pages(
            tables.summary_table(frame), "Summary: one row per run", _status_line(frame)))
        body += _figure_pages(frame)
    body += failure_pages(sources)
    contents = ["Title and contents", *[p.title for p in body]]
    title = pages.title_page(f"memsweep report: sweep {sweep_name(frame)}", _facts(sources),
                             tables.environment_table(list(sources.records)), contents)
    return [Page(contents[0], title), *body]


def _figure_pages(frame: pd.DataFrame) -> list[Page]:
    if ok_runs(frame).empty:
        n = len(frame)
        return [Page("No ok runs", pages.message_page(
            "No ok runs", f"None of the {n} run{'s' * (n != 1)} is ok",
            "Statuses: " + _status_line(frame) + ". The failures page lists each run, its "
            "reason and the last lines of its log."))]
    out = []
    for facet in facets(frame):
        suffix = f" ({facet.label})" if facet.label else ""
        out += [Page(name + suffix, make(facet.rows, subtitle=facet.description))
                for name, make in FIGURES]
    return out


def failure_pages(sources: Sources) -> list[Page]:
    """Every run that is not ok (status, reason, log tail) and every quarantined file."""
    failed = tables.failures_table(sources.frame)
    blocks = [[f"[{row.status.upper()}] run {row.run_id} · {row.config}",
               f"    reason: {row.reason}",
               *(f"    | {line}" for line in row.log_tail.splitlines()), ""]
              for row in failed.itertuples(index=False)]
    quarantined = [[f"  {q.path}:", f"      {q.problem}"] for q in sources.quarantined]
    if quarantined:  # the heading stays with the first file
        quarantined[0].insert(0, "Quarantined files (not valid v1 records; left out of every "
                                 "other page):")
    blocks += quarantined
    if not blocks:
        blocks = [["Every run is ok and no file was quarantined."]]
    subtitle = f"{len(failed)} run(s) not ok, {len(sources.quarantined)} file(s) quarantined"
    return _titled("Failures and quarantined files",
                   pages.text_pages(blocks, "Failures and quarantined files", subtitle))


def _titled(title: str, figs: list[Figure]) -> list[Page]:
    """Pages of one kind; `title (i/n)` in the contents when there are several."""
    return [Page(title + (f" ({i}/{len(figs)})" if len(figs) > 1 else ""), fig)
            for i, fig in enumerate(figs, start=1)]


def _status_line(frame: pd.DataFrame) -> str:
    counts = tables.status_counts(frame)
    return f"{len(frame)} runs: " + ", ".join(f"{n} {s}" for s, n in counts.itertuples(
        index=False))


def _facts(sources: Sources) -> list[tuple]:
    frame = sources.frame
    not_ok = 0 if frame.empty else int((frame["status"] != "ok").sum())

    def values(col: str) -> str:
        return ", ".join(sorted(map(str, frame[col].dropna().unique()))) or "–"

    def warn(bad: object) -> str:
        return FAIL_COLOR if bad else "black"

    return [
        ("sweep", sweep_name(frame)),
        ("runs started", _span(frame)),
        ("report made", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("folders", ", ".join(map(str, sources.dirs))),
        ("hosts", values("hostname")),
        ("runs", _status_line(frame) if not frame.empty else "none", warn(not_ok)),
        ("quarantined files", str(len(sources.quarantined)), warn(sources.quarantined)),
        ("torch", values("torch_version")),
        ("deepspeed", values("deepspeed_version")),
        ("memsweep", _version("memsweep")),
    ]


def sweep_name(frame: pd.DataFrame) -> str:
    names = sorted(frame["sweep"].dropna().unique()) if not frame.empty else []
    return ", ".join(names) if names else "(no records)"


def run_date(frame: pd.DataFrame) -> str:
    """The day the sweep ran (its last start), else today: shown in every footer."""
    last = frame["started_at"].max() if not frame.empty else pd.NaT
    when = datetime.now(timezone.utc) if pd.isna(last) else last
    return when.strftime("%Y-%m-%d")


def _span(frame: pd.DataFrame) -> str:
    if frame.empty or frame["started_at"].isna().all():
        return "–"
    first, last = frame["started_at"].min(), frame["started_at"].max()
    fmt = "%Y-%m-%d %H:%M UTC"
    return first.strftime(fmt) + ("" if first == last else " to " + last.strftime(fmt))


def add_footers(report: list[Page], left: str) -> None:
    """`left` and `page i of n` at the foot of every page."""
    y = FOOTER_BAND / 2
    for i, page in enumerate(report, start=1):
        page.figure.text(0.02, y, left, fontsize=8, color="#555555", va="center",
                         parse_math=False)
        page.figure.text(0.98, y, f"page {i} of {len(report)}", fontsize=8, color="#555555",
                         va="center", ha="right")


def _metadata(sweep: str) -> dict:
    return {"Title": f"memsweep report: sweep {sweep}", "Author": "memsweep",
            "Subject": "Memory-saving strategies of large-model training: peak memory, "
                       "memory held per rank and throughput by ZeRO stage and model size",
            "Keywords": "memsweep, DeepSpeed, ZeRO, offload, memory, benchmark",
            "Creator": f"memsweep {_version('memsweep')}"}


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"
