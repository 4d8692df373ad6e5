"""The report's sections: each takes the report's Analysis and returns its pages as (section
title, Figure) pairs.

Per-setup figures get a page per hardware setup, the setups with the most runs
first, up to MAX_SETUP_PAGES; tables go on over pages up to MAX_TABLE_PAGES
and say what they left out.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analysis import comparison_tables as views
from analysis import fig_capacity, fig_history, fig_memory, fig_parts, fig_tradeoff, pages
from analysis.analysis import Analysis
from analysis.baseline import medians_of
from analysis.capacity import capacity_view
from analysis.findings import findings
from analysis.grouping import describe
from analysis.history import night_span
from analysis.regress import MIN_SAMPLES, Comparison
from analysis.run_tables import appendix_table, failure_groups
from analysis.sources import Sources
from analysis.tidy import COLUMNS as ANALYSIS_COLUMNS
from analysis.tidy import LEDGER, hardware_keys, one_value, peak_what, setup_keys
from analysis.units import human_bytes
from suite.axes import AXES

MAX_SETUP_PAGES = 2  # figure pages per section that draws a page per setup
MAX_TABLE_PAGES = 3
MAX_FAILURE_PAGES = 6
MAX_APPENDIX_PAGES = 6
FINDINGS = "Summary of findings"
APPENDIX = "Appendix: every scenario"
MEDIANS = "medians over the ok runs of every night and repetition"
PEAK_WHAT = ("device", "peak_host_rss_bytes", "tensor_peak_bytes")  # what peak_what reads


def analysis_sections(a: Analysis) -> list[Callable[[], list[tuple[str, Figure]]]]:
    """Every section from the findings to the partitions, for a frame with ok runs, in order:
    each a call that builds its pages (the report may make them in several processes)."""
    return [partial(summary, a), partial(boundaries, a), partial(strategies_vs_baseline, a),
            partial(memory_vs_size, a), partial(breakdown, a), partial(predicted, a),
            partial(largest_fits_unless_searched, a), partial(pareto, a), partial(scaling, a),
            partial(trends, a), partial(nightly, a), partial(partitions, a)]


def summary(a: Analysis) -> list[tuple[str, Figure]]:
    found = findings(a)
    return [(FINDINGS, fig) for fig in pages.findings_pages(
        FINDINGS, [(f.section, f.text) for f in found],
        f"Computed from the runs; {MEDIANS}. Each has a section of its own below.")]


def predicted(a: Analysis) -> list[tuple[str, Figure]]:
    return [("Predicted vs measured", fig_memory.predicted_figure(
        a, subtitle="suite/memory_model.py vs the ledger, suite/peak_model.py vs the tensor "
                    "peak (allocated on a GPU); a point per scenario"
                    + _cpu_offload_note(a.frame)))]


def largest_fits_unless_searched(a: Analysis) -> list[tuple[str, Figure]]:
    return largest_fits(a) if a.boundaries.empty else []  # with searches, their page answers


def nightly(a: Analysis) -> list[tuple[str, Figure]]:
    comparison, nights = a.nightly
    return [] if comparison is None else nightly_pages(comparison, nights)


class _Setup(NamedTuple):
    label: str  # what varies between setups ("" if nothing)
    at: np.ndarray | None  # the positions of its rows in the frame; None: every row
    values: dict  # every key's value


def _by_setup(frame: pd.DataFrame, keys: list[str], limit: int = MAX_SETUP_PAGES
              ) -> tuple[list[_Setup], str]:
    """The setups with the most runs first (at most `limit`), and a note on the rest. A setup
    holds its rows' positions, not a copy of them: `_of` copies them when drawn (of a
    million-row frame, the few setups' copies held at once were gigabytes)."""
    keys = [k for k in keys if k in frame]
    if not keys:
        return [_Setup("", None, {})], ""
    # the keys with one value in every row are not grouped by: they split nothing (at 100k
    # rows 7 of 9 hardware keys; a call 32-38 -> 25-30 ms, 6 calls a report)
    constant = {k: frame[k].iloc[0] for k in keys if one_value(frame[k])}
    split = [k for k in keys if k not in constant]
    if not split:
        return [_Setup("", np.arange(len(frame)), constant)], ""
    # one groupby numbers every row's setup: a setup's rows are then an integer compare, not
    # a string compare of the whole frame per key and setup (100k rows: 6 calls 180 -> 40 ms)
    by = frame.groupby(split, dropna=False)
    sizes = by.size()
    setup = by.ngroup().to_numpy()  # numbered as `sizes` lists the setups
    ranked = sizes.reset_index(drop=True).sort_values(ascending=False, kind="stable")
    shown = _varying_keys(sizes.index, split)
    cells = []
    for number in ranked.index[:limit]:
        values = sizes.index[number]
        named = {**constant, **dict(zip(split, values if len(split) > 1 else (values,),
                                        strict=True))}
        named = {k: named[k] for k in keys}  # in the keys' order
        cells.append(_Setup(describe({k: v for k, v in named.items() if k in shown}),
                            np.flatnonzero(setup == number), named))
    left = len(sizes) - limit
    note = f" ({left} more setup{'s' * (left != 1)} in the table)" if left > 0 else ""
    return cells, note


def _varying_keys(setups: pd.Index, keys: list[str]) -> list[str]:
    """Those of `keys` that take more than one value among `setups` (the groups' index): as
    `varying` over the frame, but over a few setups, not every row."""
    return [k for k in keys if setups.get_level_values(k).nunique(dropna=False) > 1]


def _of(a: Analysis, cells: list[_Setup], columns: list[str] | None = None) -> Analysis:
    """The analysis of the rows of `cells`, setup after setup (one copy of them); of only
    `columns` (and the analysis columns) when given."""
    frame = a.frame
    if columns is not None:
        wanted = {*columns, *ANALYSIS_COLUMNS}
        frame = frame[[c for c in frame.columns if c in wanted]]
    if any(c.at is None for c in cells):
        return a.of(frame) if columns is not None else a
    return a.of(frame.take(np.concatenate([c.at for c in cells])))


def _compared(a: Analysis, cells: list[_Setup], columns: list[str] | None = None) -> Analysis:
    """_of(a, cells, columns) with its medians (and so vs_baseline, reference, pareto and
    scaling) taken from the whole frame's, not computed again from its rows: `medians_of`."""
    mine = _of(a, cells, columns)
    if mine is not a:
        mine.adopt({"medians": medians_of(a.medians, mine.frame, [c.values for c in cells])})
    return mine


def _compared_columns(a: Analysis) -> list[str]:
    """The columns the figures of medians (strategies vs baseline, pareto, scaling) read of
    their analysis' rows besides the analysis columns (`_of` keeps those): every setup key,
    the status and what peak_what reads. Not the other ~50: a copy of all 74 was most of
    `_of`'s 15-28 ms a call at 100k rows."""
    return [*setup_keys(a.frame), "status", *PEAK_WHAT]


def _cpu_offload_note(frame: pd.DataFrame) -> str:
    # On the CPU "offload" moves bytes between ledger categories, not out of the one memory.
    if "device" in frame and (frame["device"] == "cpu").any():
        return "; on the CPU, offloaded bytes stay in the same RAM"
    return ""


def _table(title: str, table: pd.DataFrame, subtitle: str) -> list[tuple[str, Figure]]:
    return [(title, fig) for fig in pages.table_pages(table, title, subtitle,
                                                      max_pages=MAX_TABLE_PAGES)]


def boundaries(a: Analysis) -> list[tuple[str, Figure]]:
    """The capacity searches' answer, one figure per searched axis, then the table."""
    table = a.boundaries
    if table.empty:
        return []
    title = "Capacity boundaries (search)"
    out = [(title, fig_capacity.capacity_figure(
        rows, subtitle="Each boundary is an ok run whose next value up ran out of memory "
                       "(real runs, bisected); the mark is where the analytical model put it"))
           for _, rows in table.groupby("axis", sort=False)]
    return out + _table(title, capacity_view(table),
                        "boundary: the largest value that ran ok; next up: the next value "
                        "probed above it; FLOP/s at the boundary over the baseline's at its own "
                        "(unknown where other work shared the CPUs while either was timed)")


def strategies_vs_baseline(a: Analysis) -> list[tuple[str, Figure]]:
    title = "Strategies vs baseline"
    table = a.vs_baseline
    if table.empty:
        return []
    cells, note = _by_setup(a.frame, hardware_keys(a.frame), limit=3)
    out = [(title, fig) for fig in fig_tradeoff.baseline_figures(
        _compared(a, cells, _compared_columns(a)),
        subtitle=f"Largest model whose baseline ran ok, per setup; {MEDIANS}{note}")]
    return out + _table(title, views.baseline_view(table, a.frame),
                        f"Every model size and setup with a baseline; {MEDIANS}")


def memory_vs_size(a: Analysis) -> list[tuple[str, Figure]]:
    keys = hardware_keys(a.frame)
    cells, note = _by_setup(a.frame, keys, limit=fig_parts.MAX_PANELS)
    # most of the frame's rows: only the columns the figure reads copied (a million rows:
    # 0.4 GB less), and the figure copies each setup's rows again
    chosen = _of(a, cells, [*keys, "status", "model", "n_params", "device", "gpu_model",
                            "peak_host_rss_bytes", "tensor_peak_bytes"])
    return [("Memory vs model size", fig_memory.memory_vs_size_figure(
        chosen, subtitle=f"{MEDIANS}; dashed: the device memory{note}"))]


def breakdown(a: Analysis) -> list[tuple[str, Figure]]:
    keys = hardware_keys(a.frame)
    cells, note = _by_setup(a.frame, keys)
    # a setup's rows of only the columns the pages read (74 copied: ~15 ms a setup at 100k)
    read = [*keys, "model", "status", *LEDGER, *fig_memory._breakdown_columns(a.frame)]
    return [("Memory breakdown", fig) for c in cells for fig in fig_memory.breakdown_figures(
        _of(a, [c], read),
        subtitle=f"{c.label + ' · ' if c.label else ''}measured at the peak of tensor memory, "
                 "the rank with the largest peak; a run without that breakdown: its ledger, "
                 f"modelled activations, the rest as other{note}")]


def largest_fits(a: Analysis) -> list[tuple[str, Figure]]:
    title = "Largest model that fits"
    cap = f"device memory {human_bytes(a.capacity)}" if a.capacity else \
        "device memory from the GPU's name, unknown on the CPU (pass --capacity)"
    out = [(title, fig) for fig in fig_tradeoff.fits_figures(
        a, subtitle=f"Measured, then predicted past the largest size run; {cap}")]
    return out + _table(title, views.fits_view(a.fits, a.frame),
                        "measured: largest size with an ok run; predicted: the analytical "
                        "model plus the overhead measured at the largest size run")


def pareto(a: Analysis) -> list[tuple[str, Figure]]:
    title = "Pareto front: throughput vs memory"
    cells, note = _by_setup(a.frame, hardware_keys(a.frame))
    read = _compared_columns(a)
    out = [(title, fig_tradeoff.pareto_figure(
        _compared(a, [c], read), subtitle=f"{c.label + ' · ' if c.label else ''}{MEDIANS}; "
                                          f"the 6 largest model sizes{note}")) for c in cells]
    return out + _table(title, views.pareto_view(a.pareto, a.frame),
                        "The strategies on the front, per model size and setup")


def scaling(a: Analysis) -> list[tuple[str, Figure]]:
    title = "Scaling with the world size"
    if a.scaling.empty:
        return []
    keys = [k for k in hardware_keys(a.frame) if k != "world_size"]
    cells, note = _by_setup(a.frame, keys)
    read = _compared_columns(a)
    out = [(title, fig_tradeoff.scaling_figure(
        _compared(a, [c], read),
        subtitle=f"{c.label + ' · ' if c.label else ''}{MEDIANS}{note}"))
        for c in cells]
    return out + _table(title, views.scaling_view(a.scaling, a.frame),
                        "Relative to the fewest ranks run; efficiency 100% = samples/s grow "
                        "with the ranks")


def trends(a: Analysis) -> list[tuple[str, Figure]]:
    frame = a.frame
    if frame["night"].nunique() < 2:
        return []
    parts = sorted(frame["partition"].unique())
    shown = [parts[i:i + 3] for i in range(0, min(len(parts), 9), 3)]  # 3 a page
    # one page of every partition: the analysis itself, its trends computed once (and no copy
    # of every row)
    return [("Nightly trends", fig_history.trend_figure(
        a if len(parts) <= 3 else a.of(frame[frame["partition"].isin(page)]),
        subtitle=f"{night_span(frame)}; each scenario against its own median over the nights, "
                 "then the median per strategy")) for page in shown]


def nightly_pages(comparison: Comparison, nights: tuple[str, str]) -> list[tuple[str, Figure]]:
    return comparison_pages(comparison, new=nights[0], baseline=nights[1],
                            title="Nightly regressions")


def comparison_pages(comparison: Comparison, *, new: str, baseline: str,
                     title: str) -> list[tuple[str, Figure]]:
    """The changes figure and the table of what changed beyond the noise (`compare` too)."""
    t = comparison.thresholds
    rule = (f"threshold = max({t.k:g} × noise, {100 * t.memory_floor:g}% memory / "
            f"{100 * t.throughput_floor:g}% throughput); exact bytes (memory held, peak "
            f"allocated): the floor alone; measured ones need {MIN_SAMPLES}+ ok runs a side")
    n = len(comparison.regressions)
    head = f"{comparison.matched:,} scenarios matched, {n:,} regression{'s' * (n != 1)}"
    out = [(title, fig_history.changes_figure(comparison.table, subtitle=f"{head}; {rule}",
                                              title=f"{title}: {new} vs {baseline}"))]
    view = views.regression_view(comparison.table)
    if view.empty:
        return out
    return out + _table(title, view, f"Changes beyond the threshold, regressions first; {rule}")


def partitions(a: Analysis) -> list[tuple[str, Figure]]:
    title = "Partitions side by side"
    frame, table = a.frame, a.partitions
    if frame["partition"].nunique() < 2 or table.empty:
        return []
    keys = [k for k in hardware_keys(frame) if k != "partition"]
    cells, note = _by_setup(frame, keys)
    out = []
    # one copy and table for both figures, of the columns hardware_table and they read
    read = [*(p for p in AXES if p in frame), *hardware_keys(frame), "status", "n_params",
            "samples_per_s", "run_id", *PEAK_WHAT]
    mine = [(c, _of(a, [c], read)) for c in cells[:1]]
    for column in ("samples_per_s", "peak_bytes"):
        out += [(title, fig_history.hardware_figure(
            of, column=column, subtitle=f"{c.label + ' · ' if c.label else ''}the same "
                                        f"scenarios on each partition; {MEDIANS}{note}"))
            for c, of in mine]
    return out + _table(title, views.hardware_view(table, frame),
                        f"Scenarios run ok on several partitions; {peak_what(frame)} and "
                        "samples/s")


def failures(a: Analysis, sources: Sources) -> list[Figure]:
    """Every run that is not ok, grouped per scenario, partition and status: failures with
    their reason and log tail first, then out-of-memory results one line each, then every
    quarantined file."""
    frame = a.frame
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


def appendix(a: Analysis) -> list[Figure]:
    table = appendix_table(a.frame)
    return pages.table_pages(table, APPENDIX, f"One row per scenario and partition; {MEDIANS}",
                             max_pages=MAX_APPENDIX_PAGES, what="scenarios")
