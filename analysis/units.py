"""Human units for the report: bytes (binary: KiB, MiB, GiB, as suite/units.py prints them),
counts (k, M, B), rates and times; an empty value as an en dash."""

from __future__ import annotations

import pandas as pd
from matplotlib.ticker import FuncFormatter

from suite.models import human_count
from suite.units import byte_unit, format_bytes

__all__ = ["byte_unit", "count_formatter", "human_bytes", "human_count", "human_rate",
           "human_seconds"]

DASH = "–"  # how an empty value is shown


def human_bytes(n: object) -> str:
    """`1.5 GiB`, `412 MiB`; an empty value is shown as an en dash."""
    return DASH if pd.isna(n) else format_bytes(float(n))


def human_rate(x: object) -> str:
    """A count-like float (samples/s, tokens/s) with a k/M suffix, 3 significant digits."""
    if pd.isna(x):
        return DASH
    x = float(x)
    if abs(x) < 1000:
        return f"{x:.3g}"
    return ("-" if x < 0 else "") + human_count(int(round(abs(x))))


def human_seconds(t: object) -> str:
    """`850 ms`, `13.9 s`, `4.2 min`."""
    if pd.isna(t):
        return DASH
    t = float(t)
    if t < 1:
        return f"{t * 1000:.3g} ms"
    return f"{t:.3g} s" if t < 120 else f"{t / 60:.3g} min"


def count_formatter() -> FuncFormatter:
    """Axis ticks as 0, 500, 1k, 1.5k, 2M."""
    return FuncFormatter(lambda x, _pos: human_rate(x))
