"""Nights of a history: which records belong to a night or a range of nights.

A record's night is the UTC date it started (the frame's `night` column). A
nightly job writes each night's sweep folder anywhere under one history
folder, e.g. `HISTORY/2026-11-25/gpu-h100/`; `memsweep report HISTORY` and
`memsweep compare NIGHTS NIGHTS --history HISTORY` read every sweep folder below.
"""

from __future__ import annotations

import re
from datetime import date

import pandas as pd

from suite.errors import UserInputError

WINDOW = 7  # earlier nights the latest night is compared with in the report
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
