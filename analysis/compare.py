"""`memsweep compare NEW BASELINE`: regressions of NEW against BASELINE, for cron and CI.

NEW and BASELINE are sweep folders (or folders of them), or, with `--history
DIR`, nights `2026-11-25` or ranges `2026-11-18..2026-11-24` of the records
under DIR. Prints the changes beyond the noise (analysis/regress.py explains
the threshold), optionally writes them as PDF pages, and returns the exit code:
0 no regression, 1 a regression, 2 bad input (raised as UserInputError).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import pages
from analysis.comparison_tables import regression_view, text_table
from analysis.history import is_nights, night_span, parse_nights, select_nights
from analysis.regress import (
    DEFAULT_THRESHOLDS,
    FEW_RUNS,
    HOW_TO_KNOW,
    HOW_TO_UNSHARE,
    SHARED,
    Comparison,
    Thresholds,
    compare,
)
from analysis.report import Page, check_pdf, save, sweep_name
from analysis.sections import comparison_pages
from analysis.sources import load_sources
from analysis.tidy import enrich
from suite.errors import UserInputError


def run_compare(new: str, baseline: str, *, history: Path | None = None,
                thresholds: Thresholds = DEFAULT_THRESHOLDS, report: Path | None = None,
                show_all: bool = False) -> int:
    if report is not None:
        report = check_pdf(report)
    loaded = enrich(load_sources([history]).frame) if history is not None else None
    new_frame, new_label = side(new, loaded, key="NEW")
    base_frame, base_label = side(baseline, loaded, key="BASELINE")
    result = compare(new_frame, base_frame, thresholds)
    if result.matched == 0:
        raise UserInputError(
            f"NEW ({new_label}) and BASELINE ({base_label}) share no scenario", key="NEW",
            fix="compare records of the same sweep (same scenarios), or of one partition "
                "against one other")
    print(summary_text(result, new_label, base_label, show_all=show_all))
    if report is not None:
        write_pages(result, new_label, base_label, report, new_frame)
        print(f"compare: pages written to {report}")
    return 1 if len(result.regressions) else 0


def side(text: str, history: pd.DataFrame | None, *, key: str) -> tuple[pd.DataFrame, str]:
    """The enriched frame of one side and how to name it."""
    if history is not None:
        first, last = parse_nights(text, key=key)
        rows = select_nights(history, first, last)
        if rows.empty:
            raise UserInputError(
                f"no records of {text} in the history", key=key,
                fix=f"the history holds {night_span(history)}; pick nights from it")
        return rows, f"{text} ({len(rows):,} runs)"
    if is_nights(text) and not Path(text).exists():
        raise UserInputError(f"{text} is a night, but no history folder was given", key=key,
                             fix="add --history DIR (the folder holding the nightly sweep "
                                 "folders), or pass a sweep folder")
    frame = load_sources([Path(text)]).frame
    if frame.empty:
        raise UserInputError(f"{text} holds no valid run record", source=text,
                             fix="pass a sweep folder whose runs/ holds records")
    return enrich(frame), f"{text} ({len(frame):,} runs)"


def summary_text(result: Comparison, new: str, baseline: str, *, show_all: bool) -> str:
    t = result.thresholds
    view = regression_view(result.table, only_flagged=not show_all)
    n = len(result.regressions)
    lines = [f"compare ({result.mode}): NEW {new} vs BASELINE {baseline}",
             f"  {result.matched:,} scenarios matched (NEW has {result.new_scenarios:,}, "
             f"BASELINE {result.baseline_scenarios:,}); threshold = max({t.k:g} x noise, "
             f"{100 * t.memory_floor:g}% memory / {100 * t.throughput_floor:g}% throughput)"]
    if not view.empty:
        lines += ["", text_table(view)]
    lines += ["", f"{n:,} regression{'s' * (n != 1)}" if n else "no regression beyond the noise"]
    unknown = result.unknown
    for why, how in ((FEW_RUNS, HOW_TO_KNOW), (SHARED, HOW_TO_UNSHARE)):
        rows = unknown[unknown["why"] == why]
        if not rows.empty:
            metrics = ", ".join(f"{m} ({c:,})" for m, c in rows["metric"].value_counts(
                sort=False).items())
            lines += [f"noise unknown, no verdict: {metrics}; {why}", f"  to get one: {how}"]
    return "\n".join(lines)


def write_pages(result: Comparison, new: str, baseline: str, output: Path,
                new_frame: pd.DataFrame) -> None:
    body = [Page(title, fig) for title, fig in comparison_pages(
        result, new=new, baseline=baseline, title="Comparison")]
    facts = [("NEW", new), ("BASELINE", baseline), ("mode", result.mode),
             ("scenarios matched", f"{result.matched:,}"),
             ("regressions", f"{len(result.regressions):,}")]
    contents = [("Comparison", f"2-{len(body) + 1}" if len(body) > 1 else "2")]
    title = pages.title_page(f"memsweep compare: {new} vs {baseline}", facts, [], contents)
    save([Page("Title", title), *body], output, sweep_name(new_frame), night_span(new_frame),
         what="memsweep compare")
