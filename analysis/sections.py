"""The report's sections: each returns its pages as (section title, Figure) pairs.

Per-setup figures get a page per hardware setup, the setups with the most runs
first, up to MAX_SETUP_PAGES; tables go on over pages up to MAX_TABLE_PAGES
and say what they left out.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from analysis import comparison_tables as views
from analysis import fig_history, fig_memory, fig_tradeoff, pages, plot
from analysis.baseline import vs_baseline
from analysis.findings import findings
from analysis.fits import largest_fitting
from analysis.grouping import Group, describe
from analysis.history import latest_and_earlier, night_span
from analysis.pareto import pareto_table
from analysis.regress import DEFAULT_THRESHOLDS, Comparison, Thresholds, compare
from analysis.scaling import scaling_table
from analysis.sources import Sources
from analysis.tables import appendix_table, failure_groups
from analysis.tidy import hardware_keys, matching, peak_what, varying
from analysis.units import human_bytes

MAX_SETUP_PAGES = 2  # figure pages per section that draws a page per setup
MAX_TABLE_PAGES = 3
MAX_FAILURE_PAGES = 6
MAX_APPENDIX_PAGES = 6
FINDINGS = "Summary of findings"
APPENDIX = "Appendix: every scenario"
MEDIANS = "medians over the ok runs of every night and repetition"


def analysis_pages(frame: pd.DataFrame, capacity: int | None) -> list[tuple[str, Figure]]:
    """Every section from the findings to the partitions, for a frame with ok runs."""
    nightly, nights = nightly_comparison(frame)
    found = findings(frame, capacity=capacity, nightly=nightly, nights=nights)
    out = [(FINDINGS, fig) for fig in pages.findings_pages(
        FINDINGS, [(f.section, f.text) for f in found],
        f"Computed from the runs; {MEDIANS}. Each has a section of its own below.")]
    out += strategies_vs_baseline(frame)
    out += memory_vs_size(frame, capacity)
    out += breakdown(frame)
    out += [("Predicted vs measured", fig_memory.predicted_figure(
        frame, subtitle="Analytical model (suite/memory_model.py) against the runs; one point "
                        "per scenario and partition" + _cpu_offload_note(frame)))]
    out += largest_fits(frame, capacity)
    out += pareto(frame)
    out += scaling(frame)
    out += trends(frame)
    if nightly is not None:
        out += nightly_pages(nightly, nights)
    out += partitions(frame)
    return out


def _by_setup(frame: pd.DataFrame, keys: list[str], limit: int = MAX_SETUP_PAGES
              ) -> tuple[list[Group], str]:
    """The setups with the most runs first (at most `limit`), and a note on the rest."""
    keys = [k for k in keys if k in frame]
    if not keys:
        return [Group("", {}, frame)], ""
    counts = frame.groupby(keys, dropna=False).size().sort_values(ascending=False, kind="stable")
    shown = varying(frame, keys)
    cells = []
    for values in counts.index[:limit]:
        named = dict(zip(keys, values if len(keys) > 1 else (values,), strict=True))
        cells.append(Group(describe({k: v for k, v in named.items() if k in shown}), named,
                           frame[matching(frame, named)]))
    left = len(counts) - limit
    note = f" ({left} more setup{'s' * (left != 1)} in the table)" if left > 0 else ""
    return cells, note


def _cpu_offload_note(frame: pd.DataFrame) -> str:
    # On the CPU "offload" moves bytes between ledger categories, not out of the one memory.
    if "device" in frame and (frame["device"] == "cpu").any():
        return (". On the CPU, offloading moves bytes between ledger categories but not out "
                "of physical memory: host and device are the same RAM")
    return ""


def _table(title: str, table: pd.DataFrame, subtitle: str) -> list[tuple[str, Figure]]:
    return [(title, fig) for fig in pages.table_pages(table, title, subtitle,
                                                      max_pages=MAX_TABLE_PAGES)]


def strategies_vs_baseline(frame: pd.DataFrame) -> list[tuple[str, Figure]]:
    title = "Strategies vs baseline"
    table = vs_baseline(frame)
    if table.empty:
        return []
    cells, note = _by_setup(frame, hardware_keys(frame), limit=3)
    out = [(title, fig_tradeoff.baseline_figure(
        pd.concat([c.rows for c in cells]),
        subtitle=f"Largest model whose baseline ran ok, per setup; {MEDIANS}{note}"))]
    return out + _table(title, views.baseline_view(table, frame),
                        f"Every model size and setup with a baseline; {MEDIANS}")


def memory_vs_size(frame: pd.DataFrame, capacity: int | None) -> list[tuple[str, Figure]]:
    cells, note = _by_setup(frame, hardware_keys(frame), limit=plot.MAX_PANELS)
    chosen = pd.concat([c.rows for c in cells])
    return [("Memory vs model size", fig_memory.memory_vs_size_figure(
        chosen, capacity=capacity, subtitle=f"{MEDIANS}; dashed: the device memory{note}"))]


def breakdown(frame: pd.DataFrame) -> list[tuple[str, Figure]]:
    cells, note = _by_setup(frame, hardware_keys(frame))
    return [("Memory breakdown", fig_memory.breakdown_figure(
        c.rows, subtitle=f"{c.label + ' · ' if c.label else ''}ledger measured, activations "
                         "modelled; offloaded states (on the host) reach past the peak mark"
                         f"{note}")) for c in cells]


def largest_fits(frame: pd.DataFrame, capacity: int | None) -> list[tuple[str, Figure]]:
    title = "Largest model that fits"
    cap = f"device memory {human_bytes(capacity)}" if capacity else \
        "device memory from the GPU's name, unknown on the CPU (pass --capacity)"
    table = largest_fitting(frame, capacity=capacity)
    out = [(title, fig_tradeoff.fits_figure(frame, capacity=capacity,
                                            subtitle=f"Measured, then predicted past the "
                                                     f"largest size run; {cap}"))]
    return out + _table(title, views.fits_view(table, frame),
                        "measured: largest size with an ok run; predicted: the analytical "
                        "model plus the overhead measured at the largest size run")


def pareto(frame: pd.DataFrame) -> list[tuple[str, Figure]]:
    title = "Pareto front: throughput vs memory"
    cells, note = _by_setup(frame, hardware_keys(frame))
    out = [(title, fig_tradeoff.pareto_figure(
        c.rows, subtitle=f"{c.label + ' · ' if c.label else ''}{MEDIANS}; the 6 largest "
                         f"model sizes{note}")) for c in cells]
    return out + _table(title, views.pareto_view(pareto_table(frame), frame),
                        "The strategies on the front, per model size and setup")


def scaling(frame: pd.DataFrame) -> list[tuple[str, Figure]]:
    title = "Scaling with the world size"
    table = scaling_table(frame)
    if table.empty:
        return []
    keys = [k for k in hardware_keys(frame) if k != "world_size"]
    cells, note = _by_setup(frame, keys)
    out = [(title, fig_tradeoff.scaling_figure(
        c.rows, subtitle=f"{c.label + ' · ' if c.label else ''}{MEDIANS}{note}"))
        for c in cells]
    return out + _table(title, views.scaling_view(table, frame),
                        "Relative to the fewest ranks run; efficiency 100% = samples/s grow "
                        "with the ranks")


def trends(frame: pd.DataFrame) -> list[tuple[str, Figure]]:
    if frame["night"].nunique() < 2:
        return []
    parts = sorted(frame["partition"].unique())
    return [("Nightly trends", fig_history.trend_figure(
        frame[frame["partition"].isin(parts[i:i + 3])],
        subtitle=f"{night_span(frame)}; each scenario against its own median over the nights, "
                 "then the median per strategy")) for i in range(0, min(len(parts), 9), 3)]


def nightly_comparison(frame: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS
                       ) -> tuple[Comparison | None, tuple[str, str] | None]:
    """Each partition's latest night against its earlier nights, if there are any."""
    if frame["night"].nunique() < 2:
        return None, None
    latest, earlier = latest_and_earlier(frame)
    if earlier.empty:
        return None, None
    return compare(latest, earlier, thresholds), (_nights(latest, "latest night"),
                                                  _nights(earlier, "night before", "the "))


def _nights(frame: pd.DataFrame, what: str, the: str = "the ") -> str:
    """`the latest night (2026-11-22)`, `the 2 nights before (2026-11-20 to 2026-11-21)`."""
    nights = sorted(frame["night"].dropna().unique())
    if len(nights) == 1:
        return f"{the}{what} ({nights[0]})"
    many = what.replace("night", f"{len(nights)} nights")
    return f"{the}{many} ({nights[0]} to {nights[-1]})"


def nightly_pages(comparison: Comparison, nights: tuple[str, str]) -> list[tuple[str, Figure]]:
    return comparison_pages(comparison, new=nights[0], baseline=nights[1],
                            title="Nightly regressions")


def comparison_pages(comparison: Comparison, *, new: str, baseline: str,
                     title: str) -> list[tuple[str, Figure]]:
    """The changes figure and the table of what changed beyond the noise (`compare` too)."""
    t = comparison.thresholds
    rule = (f"threshold = max({t.k:g} × noise, {100 * t.memory_floor:g}% memory / "
            f"{100 * t.throughput_floor:g}% throughput); memory held: the floor alone")
    n = len(comparison.regressions)
    head = f"{comparison.matched:,} scenarios matched, {n:,} regression{'s' * (n != 1)}"
    out = [(title, fig_history.changes_figure(comparison.table, subtitle=f"{head}; {rule}",
                                              title=f"{title}: {new} vs {baseline}"))]
    view = views.regression_view(comparison.table)
    if view.empty:
        return out
    return out + _table(title, view, f"Changes beyond the threshold, regressions first; {rule}")


def partitions(frame: pd.DataFrame) -> list[tuple[str, Figure]]:
    title = "Partitions side by side"
    table = fig_history.hardware_table(frame)
    if frame["partition"].nunique() < 2 or table.empty:
        return []
    keys = [k for k in hardware_keys(frame) if k != "partition"]
    cells, note = _by_setup(frame, keys)
    out = []
    for column in ("samples_per_s", "peak_bytes"):
        out += [(title, fig_history.hardware_figure(
            c.rows, column=column, subtitle=f"{c.label + ' · ' if c.label else ''}the same "
                                            f"scenarios on each partition; {MEDIANS}{note}"))
            for c in cells[:1]]
    return out + _table(title, views.hardware_view(table, frame),
                        f"Scenarios run ok on several partitions; {peak_what(frame)} and "
                        "samples/s")


def failures(frame: pd.DataFrame, sources: Sources) -> list[Figure]:
    """Every run that is not ok, grouped per scenario, partition and status: failures with
    their reason and log tail first, then out-of-memory results one line each, then every
    quarantined file."""
    failed = failure_groups(frame if not frame.empty else frame.iloc[:0])
    oom = failed["status"] == "oom"
    blocks = [[f"[{row.status.upper()}] {row.config}"
               + (f" · {row.runs} runs" if row.runs > 1 else f" · run {row.run_ids}"),
               *([f"    runs: {row.run_ids}"] if 1 < row.runs <= 6 else []),
               f"    nights: {row.nights} · reason: {row.reason}",
               *(f"    | {line}" for line in row.log_tail.splitlines()), ""]
              for row in failed[~oom].itertuples(index=False)]
    lines = [f"[OOM] {row.config} · " + (f"run {row.run_ids}" if row.runs == 1 else
                                         f"{row.runs} runs") + f" · {row.nights}"
             for row in failed[oom].itertuples(index=False)]
    if lines:  # a result, not an error: listed compactly, the heading kept with the first
        blocks.append(["Out of memory (a result: the scenario does not fit; reason and log "
                       "tail as for the failures above)", lines[0]])
        blocks += [[line] for line in lines[1:]]
    quarantined = [[f"  {q.path}:", f"      {q.problem}"] for q in sources.quarantined]
    if quarantined:
        quarantined[0].insert(0, "Quarantined files (not valid v1 records; left out of every "
                                 "other page):")
    blocks += quarantined
    if not blocks:
        blocks = [["Every run is ok and no file was quarantined."]]
    n = int((frame["status"] != "ok").sum()) if not frame.empty else 0
    subtitle = (f"{n:,} run(s) not ok in {len(failed):,} group(s) of the same scenario, "
                f"partition and status; {len(sources.quarantined)} file(s) quarantined")
    return pages.text_pages(blocks, "Failures and quarantined files", subtitle,
                            max_pages=MAX_FAILURE_PAGES, what="failures, OOM lines or files")


def appendix(frame: pd.DataFrame) -> list[Figure]:
    table = appendix_table(frame)
    return pages.table_pages(table, APPENDIX, f"One row per scenario and partition; {MEDIANS}",
                             max_pages=MAX_APPENDIX_PAGES, what="scenarios")
