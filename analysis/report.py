"""`memsweep report`: assemble the sections and save them as one PDF (here or, section by section
in several processes, in pdf_parts.py: the only places that save).

Sections, in order (a section without data to show is left out and the
summary says so): findings; strategies vs baseline; memory vs model size;
memory breakdown; predicted vs measured; largest model that fits; Pareto
front; scaling with the world size; nightly trends; nightly regressions
(each partition's latest night against the nights before it); partitions side
by side; failures; appendix (one row per scenario and partition).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from analysis import pages, sections
from analysis.analysis import GROUPS, Analysis, analyse
from analysis.history import night_span
from analysis.pdf_parts import Page, Section, Shared, save_pages, write_parallel
from analysis.report_columns import UNREAD, report_frame
from analysis.run_tables import environment_table, partitions_table, status_line
from analysis.sources import Sources, load_sources
from analysis.style import FAIL_COLOR
from results.paused_gc import paused_gc
from suite.errors import UserInputError
from suite.files import replacing
from suite.host_cores import usable_cores


def make_report(dirs: list[Path], output: Path, *, capacity: int | None = None,
                workers: int | None = None) -> list[str]:
    """Write the PDF report of the sweep folders in `dirs` to `output`; return the page titles."""
    output = check_pdf(output)
    return write_report(report_sources(dirs), output, capacity=capacity, workers=workers)


def report_sources(dirs: list[Path]) -> Sources:
    """The sweep folders in `dirs` loaded for a report: its frame without the columns no page
    reads (analysis/report_columns.py)."""
    return load_sources(dirs, drop=UNREAD)


def write_report(sources: Sources, output: Path, *, capacity: int | None = None,
                 workers: int | None = None) -> list[str]:
    """The report of `sources` as a PDF at `output`, its sections drawn by `workers` processes
    (default: one per core; 1: all here); return the page titles."""
    workers = usable_cores() if workers is None else workers
    output.parent.mkdir(parents=True, exist_ok=True)
    # a report's figures (millions of artists) live until saved: each full collection walked
    # them all (~10% of its CPU); the page count is capped, so the memory held is bounded
    with paused_gc():
        analysis = analyse(report_frame(sources.frame), capacity=capacity,
                           searches=sources.searches)
        body = _sections(analysis, sources)
        sweep, when = sweep_name(analysis.frame), night_span(analysis.frame)
        if workers < 2:
            report = _assemble(sources, analysis.frame, body)
            save(report, output, sweep, when)
            return [p.title for p in report]
        # the sections share the comparisons: the processes split them, then swap them
        shared = Shared(parts=[partial(analysis.computing, group) for group in GROUPS],
                        adopt=analysis.adopt)
        return write_parallel(
            body, front=lambda titles: [_title_page(sources, analysis.frame, titles)],
            footer=_footer("memsweep report", sweep, when), output=output,
            metadata=_metadata(sweep), workers=workers, shared=shared)


def check_pdf(output: Path) -> Path:
    output = Path(output)
    if output.suffix.lower() != ".pdf":
        raise UserInputError(f"the report is a PDF, but {output.name!r} does not end in .pdf",
                             source=str(output), fix=f"write e.g. -o {output.stem}.pdf")
    return output


def save(report: list[Page], output: Path, sweep: str, when: str, *,
         what: str = "memsweep report") -> None:
    """Footers on every page, then the PDF, written atomically."""
    with replacing(output) as tmp:
        save_pages(report, tmp, footer=_footer(what, sweep, when), metadata=_metadata(sweep))


def _footer(what: str, sweep: str, when: str) -> str:
    return f"{what} · sweep {sweep} · {when}"


def report_pages(sources: Sources, *, capacity: int | None = None) -> list[Page]:
    """Every page of the report, in order, title page first, built here."""
    analysis = analyse(report_frame(sources.frame), capacity=capacity,
                       searches=sources.searches)
    return _assemble(sources, analysis.frame, _sections(analysis, sources))


def _assemble(sources: Sources, frame: pd.DataFrame, body: list[Section]) -> list[Page]:
    pages_ = [page for section in body for page in section()]
    return [_title_page(sources, frame, [p.title for p in pages_]), *pages_]


def _sections(analysis: Analysis, sources: Sources) -> list[Section]:
    """The report's sections after the title page, in order; one Analysis of the frame
    handed to every section (they share its comparisons)."""
    frame = analysis.frame
    if frame.empty:
        body = [lambda: [Page("No run records", pages.message_page(
            "No run records", "No run records found",
            "The folders hold no valid run record: " + ", ".join(map(str, sources.dirs))))]]
    elif (frame["status"] != "ok").all():
        n = len(frame)
        body = [lambda: [Page("No ok runs", pages.message_page(
            "No ok runs", f"None of the {n:,} run{'s' * (n != 1)} is ok",
            "Statuses: " + status_line(frame) + ". The failures pages list each run, its "
            "reason and the last lines of its log."))]]
        # A search where nothing fits is still an answer: its page stays.
        body += [_paged(partial(sections.boundaries, analysis))]
    else:
        body = [_paged(s) for s in sections.analysis_sections(analysis)]
    body += [_titled("Failures and quarantined files",
                     partial(sections.failures, analysis, sources))]
    if not frame.empty:
        body += [_titled(sections.APPENDIX, partial(sections.appendix, analysis))]
    return body


def _paged(section: Callable[[], list[tuple[str, Figure]]]) -> Section:
    return lambda: [Page(title, fig) for title, fig in section()]


def _titled(title: str, section: Callable[[], list[Figure]]) -> Section:
    return lambda: [Page(title, fig) for fig in section()]


def _title_page(sources: Sources, frame: pd.DataFrame, titles: list[str]) -> Page:
    return Page("Title and contents", pages.title_page(
        f"memsweep report: sweep {sweep_name(frame)}", _facts(sources),
        [("Partitions", partitions_table(frame)),
         ("Software and environment (fingerprints of the runs)",
          environment_table(sources.fingerprints))], _contents(titles)))


def _contents(titles: list[str]) -> list[tuple[str, str]]:
    """(section, pages) per section: `3` or `4-7`, counting the title page as 1."""
    out: list[list] = []
    for number, title in enumerate(titles, start=2):
        if out and out[-1][0] == title:
            out[-1][2] = number
        else:
            out.append([title, number, number])
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
