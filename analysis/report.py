"""`memsweep report`: assemble the sections and save them as one PDF (the only place that saves).

Sections, in order (a section without data to show is left out and the
summary says so): findings; strategies vs baseline; memory vs model size;
memory breakdown; predicted vs measured; largest model that fits; Pareto
front; scaling with the world size; nightly trends; nightly regressions
(each partition's latest night against the nights before it); partitions side
by side; failures; appendix (one row per scenario and partition).
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

from analysis import pages, sections
from analysis.analysis import analyse
from analysis.history import night_span
from analysis.run_tables import environment_table, partitions_table, status_line
from analysis.sources import Sources, load_sources
from analysis.style import FAIL_COLOR, FOOTER_BAND, styled
from suite.errors import UserInputError


@dataclass(frozen=True)
class Page:
    title: str  # its section, as listed in the contents
    figure: Figure


def make_report(dirs: list[Path], output: Path, *, capacity: int | None = None) -> list[str]:
    """Write the PDF report of the sweep folders in `dirs` to `output`; return the page titles."""
    output = check_pdf(output)
    sources = load_sources(dirs)
    report = report_pages(sources, capacity=capacity)
    save(report, output, sweep_name(sources.frame), night_span(sources.frame))
    return [p.title for p in report]


def check_pdf(output: Path) -> Path:
    output = Path(output)
    if output.suffix.lower() != ".pdf":
        raise UserInputError(f"the report is a PDF, but {output.name!r} does not end in .pdf",
                             source=str(output), fix=f"write e.g. -o {output.stem}.pdf")
    return output


def save(report: list[Page], output: Path, sweep: str, when: str, *,
         what: str = "memsweep report") -> None:
    """Footers on every page, then the PDF, written atomically."""
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    try:
        with styled(), PdfPages(tmp, metadata=_metadata(sweep)) as pdf:
            add_footers(report, f"{what} · sweep {sweep} · {when}")
            for page in report:
                pdf.savefig(page.figure)
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)


def report_pages(sources: Sources, *, capacity: int | None = None) -> list[Page]:
    """Every page of the report, in order, title page first: one Analysis of the frame,
    handed to every section (they share its comparisons)."""
    analysis = analyse(sources.frame, capacity=capacity, searches=sources.searches)
    frame = analysis.frame
    if frame.empty:
        body = [Page("No run records", pages.message_page(
            "No run records", "No run records found",
            "The folders hold no valid run record: " + ", ".join(map(str, sources.dirs))))]
    elif (frame["status"] != "ok").all():
        n = len(frame)
        body = [Page("No ok runs", pages.message_page(
            "No ok runs", f"None of the {n:,} run{'s' * (n != 1)} is ok",
            "Statuses: " + status_line(frame) + ". The failures pages list each run, its "
            "reason and the last lines of its log."))]
        # A search where nothing fits is still an answer: its page stays.
        body += [Page(title, fig) for title, fig in sections.boundaries(analysis)]
    else:
        body = [Page(title, fig) for title, fig in sections.analysis_pages(analysis)]
    body += _titled("Failures and quarantined files", sections.failures(analysis, sources))
    body += _titled(sections.APPENDIX, sections.appendix(analysis)) if not frame.empty else []
    contents = _contents(body)
    title = pages.title_page(f"memsweep report: sweep {sweep_name(frame)}", _facts(sources),
                             [("Partitions", partitions_table(frame)),
                              ("Software and environment (fingerprints of the runs)",
                               environment_table(sources.fingerprints))], contents)
    return [Page("Title and contents", title), *body]


def _titled(title: str, figs: list[Figure]) -> list[Page]:
    return [Page(title, fig) for fig in figs]


def _contents(body: list[Page]) -> list[tuple[str, str]]:
    """(section, pages) per section: `3` or `4-7`, counting the title page as 1."""
    out: list[list] = []
    for number, page in enumerate(body, start=2):
        if out and out[-1][0] == page.title:
            out[-1][2] = number
        else:
            out.append([page.title, number, number])
    return [(t, str(a) if a == b else f"{a}-{b}") for t, a, b in out]


def _facts(sources: Sources) -> list[tuple]:
    frame = sources.frame
    not_ok = 0 if frame.empty else int((frame["status"] != "ok").sum())

    def values(col: str) -> str:
        found = sorted(map(str, frame[col].dropna().unique()))
        return ", ".join(found) if len(found) <= 4 else f"{len(found)}: {', '.join(found[:3])}, …"

    folders = [str(d) for d in sources.sweep_dirs]
    return [
        ("sweep", sweep_name(frame)),
        ("nights", night_span(frame) if not frame.empty else "–"),
        ("runs started", _span(frame)),
        ("partitions", values("partition") if not frame.empty else "–"),
        ("runs", status_line(frame) if not frame.empty else "none",
         FAIL_COLOR if not_ok else "black"),
        ("quarantined files", str(len(sources.quarantined)),
         FAIL_COLOR if sources.quarantined else "black"),
        ("git commit", values("git_commit") if not frame.empty else "–"),
        ("folders", folders[0] if len(folders) == 1 else
         f"{len(folders)} sweep folders under {', '.join(map(str, sources.dirs))}"),
        ("report made", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
         + f" by memsweep {_version('memsweep')}"),
    ]


def sweep_name(frame: pd.DataFrame) -> str:
    names = sorted(frame["sweep"].dropna().unique()) if not frame.empty else []
    return ", ".join(names) if names else "(no records)"


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
            "Subject": "Memory-saving strategies of large-model training: each strategy vs "
                       "the baseline, largest model that fits, Pareto front, scaling, nightly "
                       "and partition comparisons",
            "Keywords": "memsweep, DeepSpeed, ZeRO, offload, memory, benchmark",
            "Creator": f"memsweep {_version('memsweep')}"}


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"
