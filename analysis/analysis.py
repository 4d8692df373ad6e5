"""One analysis of a tidy frame: the frame with its analysis columns, and every comparison of it.

`analyse(frame)` adds the analysis columns once (analysis/tidy.py); each
comparison is computed the first time it is asked for and then kept, so the
report's findings, sections, figures and tables share one table each:

| attribute | what | module |
|---|---|---|
| boundaries | per capacity search: measured and predicted boundary, cost | capacity.py |
| medians | per setup and strategy: ok runs, medians, statuses | baseline.py |
| vs_baseline | each strategy against its setup's baseline | baseline.py |
| reference | of vs_baseline: per setup, the largest model whose baseline ran ok | baseline.py |
| fits | the largest model size that fits, measured then predicted | fits.py |
| pareto | the memory-throughput Pareto front | pareto.py |
| scaling | each strategy against the world size | scaling.py |
| trends | per partition, strategy and night: change against the typical | history.py |
| nightly | each partition's latest night against the nights before it | history.py |
| partitions | the same scenarios on several partitions | partitions.py |

A figure of part of the runs gets `analysis.of(rows)`: the same columns (and
colours), its own comparisons.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import pandas as pd

from analysis.baseline import reference_rows, strategy_medians, vs_baseline
from analysis.capacity import capacity_table
from analysis.fits import largest_fitting
from analysis.history import nightly_comparison, trend_table
from analysis.pareto import pareto_table
from analysis.partitions import hardware_table
from analysis.regress import Comparison
from analysis.scaling import scaling_table
from analysis.tidy import COLUMNS, enrich
from results.search_outcome import SearchOutcome
from suite.axes import WORKLOAD_AXES

COMPARISONS = ("boundaries", "medians", "vs_baseline", "reference", "fits", "pareto", "scaling",
               "trends", "nightly", "partitions")
# COMPARISONS in groups computed together (the medians' four use them), ordered so that two
# processes taking them in turn share the work about equally (at 100k records, CPU seconds:
# fits 0.3 + the medians' 0.2; nightly 0.3 + partitions' 0.2)
GROUPS = (("fits",), ("nightly",), ("medians", "vs_baseline", "reference", "pareto", "scaling"),
          ("partitions", "trends", "boundaries"))


@dataclass(frozen=True, kw_only=True)
class Analysis:
    frame: pd.DataFrame  # the tidy frame with the analysis columns (analysis/tidy.py)
    capacity: int | None = None  # device bytes per rank when given (--capacity), else found
    searches: tuple[SearchOutcome, ...] = ()  # the sweep folders' capacity searches

    def __post_init__(self) -> None:
        missing = [c for c in COLUMNS if c not in self.frame]
        if missing:
            raise ValueError(f"the frame has no analysis columns {', '.join(missing)}: build "
                             "the Analysis of a tidy frame with analyse(frame)")

    def of(self, rows: pd.DataFrame) -> Analysis:
        """The analysis of `rows` of this frame (their columns are already added)."""
        return Analysis(frame=rows, capacity=self.capacity, searches=self.searches)

    def computing(self, names: tuple[str, ...]) -> dict[str, object]:
        """The comparisons `names`, computed here, for another process to `adopt`."""
        return {name: getattr(self, name) for name in names}

    def adopt(self, computed: dict[str, object]) -> None:
        """Keep comparisons of this same frame computed elsewhere (`computing`)."""
        unknown = set(computed) - set(COMPARISONS)
        if unknown:
            raise ValueError(f"{', '.join(sorted(unknown))}: not comparisons of an Analysis; "
                             f"adopt only these: {', '.join(COMPARISONS)}")
        self.__dict__.update(computed)  # where cached_property keeps what it computed

    @cached_property
    def boundaries(self) -> pd.DataFrame:
        """Per capacity search: the boundary measured, predicted, and its cost (capacity.py)."""
        return capacity_table(list(self.searches), self.frame, WORKLOAD_AXES)

    @cached_property
    def medians(self) -> pd.DataFrame:
        return strategy_medians(self.frame)

    @cached_property
    def vs_baseline(self) -> pd.DataFrame:
        return vs_baseline(self.medians)

    @cached_property
    def reference(self) -> pd.DataFrame:
        return reference_rows(self.vs_baseline, self.frame)

    @cached_property
    def fits(self) -> pd.DataFrame:
        return largest_fitting(self.frame, capacity=self.capacity)

    @cached_property
    def pareto(self) -> pd.DataFrame:
        return pareto_table(self.medians)

    @cached_property
    def scaling(self) -> pd.DataFrame:
        return scaling_table(self.medians)

    @cached_property
    def trends(self) -> pd.DataFrame:
        return trend_table(self.frame)

    @cached_property
    def nightly(self) -> tuple[Comparison | None, tuple[str, str] | None]:
        """The comparison and how to name its sides; (None, None) with fewer than 2 nights."""
        return nightly_comparison(self.frame)

    @cached_property
    def partitions(self) -> pd.DataFrame:
        return hardware_table(self.frame)


def analyse(frame: pd.DataFrame, *, capacity: int | None = None,
            searches: tuple[SearchOutcome, ...] = ()) -> Analysis:
    """The Analysis of a tidy frame (results/frame.py, analysis/sources.py)."""
    return Analysis(frame=enrich(frame), capacity=capacity, searches=tuple(searches))
