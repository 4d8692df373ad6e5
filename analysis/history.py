"""Nights of a history: which records belong to a night, trends across nights, and each
partition's latest night against the nights before it.

A record's night is the UTC date it started (the frame's `night` column). A
nightly job writes each night's sweep folder anywhere under one history
folder, e.g. `HISTORY/2026-11-25/gpu-h100/`; `memsweep report HISTORY` and
`memsweep compare NIGHTS NIGHTS --history HISTORY` read every sweep folder below.
"""

from __future__ import annotations

import re
from datetime import date

import pandas as pd

from analysis.regress import DEFAULT_THRESHOLDS, Comparison, Thresholds, compare
from analysis.tidy import ok_rows
from suite.errors import UserInputError

WINDOW = 7  # earlier nights the latest night is compared with in the report
TREND_METRICS = (("peak_bytes", "peak memory"), ("samples_per_s", "throughput"))
_NIGHTS = re.compile(r"(\d{4}-\d{2}-\d{2})(?:\.\.(\d{4}-\d{2}-\d{2}))?")


def is_nights(text: str) -> bool:
    """Whether `text` is written as a night (`2026-11-25`) or a range (`2026-11-20..2026-11-24`)."""
    return _NIGHTS.fullmatch(text) is not None


def parse_nights(text: str, *, key: str) -> tuple[str, str]:
    """(first, last) night of `YYYY-MM-DD` or `YYYY-MM-DD..YYYY-MM-DD`, both inclusive."""
    match = _NIGHTS.fullmatch(text)
    try:
        first = date.fromisoformat(match.group(1))
        last = date.fromisoformat(match.group(2) or match.group(1))
    except (AttributeError, ValueError):
        raise UserInputError(f"{text!r} is not a night or a range of nights", key=key,
                             fix="write a UTC date, 2026-11-25, or a range, "
                                 "2026-11-18..2026-11-24") from None
    if last < first:
        raise UserInputError(f"the range {text!r} ends before it starts", key=key,
                             fix=f"write {last}..{first}")
    return first.isoformat(), last.isoformat()


def select_nights(frame: pd.DataFrame, first: str, last: str) -> pd.DataFrame:
    return frame[(frame["night"] >= first) & (frame["night"] <= last)]


def latest_and_earlier(frame: pd.DataFrame, window: int = WINDOW) -> tuple[pd.DataFrame,
                                                                          pd.DataFrame]:
    """Each partition's latest night, and up to `window` nights of that partition before it."""
    nights = frame[["partition", "night"]].drop_duplicates().dropna()
    nights = nights.sort_values("night", ascending=False)
    nights["age"] = nights.groupby("partition").cumcount()  # 0 = the partition's latest night
    age = frame[["partition", "night"]].merge(nights, how="left", on=["partition", "night"])["age"]
    age.index = frame.index
    return frame[age == 0], frame[(age >= 1) & (age <= window)]


def night_span(frame: pd.DataFrame) -> str:
    """`6 nights, 2026-11-20 to 2026-11-25`, or `the night of 2026-11-25`."""
    nights = sorted(frame["night"].dropna().unique())
    if not nights:
        return "–"
    if len(nights) == 1:
        return f"the night of {nights[0]}"
    return f"{len(nights)} nights, {nights[0]} to {nights[-1]}"


def trend_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per partition, strategy and night: the median change of each metric, in %, against
    each scenario's own median over every night (so scenarios of any size weigh alike)."""
    keys = ["scenario_id", "partition"]
    ok = ok_rows(frame, [*keys, "strategy", "night", *(c for c, _ in TREND_METRICS)])
    metrics = [c for c, _ in TREND_METRICS]
    # both metrics' medians from one groupby: its factorizing of the keys is most of the cost
    typical = ok.groupby(keys, dropna=False)[metrics].transform("median")
    parts = [(100 * (ok[column] / typical[column] - 1)).rename(column) for column in metrics]
    change = pd.concat([ok[["partition", "strategy", "night"]], *parts], axis=1)
    return change.groupby(["partition", "strategy", "night"], dropna=False).median() \
        .reset_index()


def nightly_comparison(frame: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS
                       ) -> tuple[Comparison | None, tuple[str, str] | None]:
    """Each partition's latest night against its earlier nights, if there are any, and how
    to name the two sides."""
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
