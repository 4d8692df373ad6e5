"""Human units for bytes (binary: KiB, MiB, GiB) and counts (k, M, B)."""

from __future__ import annotations

import math

import pandas as pd
from matplotlib.ticker import FuncFormatter

from suite.models import human_count

__all__ = ["byte_unit", "count_formatter", "human_bytes", "human_count", "human_rate",
           "human_seconds"]

_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
DASH = "–"  # how an empty value is shown


def byte_unit(largest: float) -> tuple[float, str]:
    """(divisor, name) of the binary unit that shows `largest` as 1 to 1023."""
    if pd.isna(largest) or largest < 1024:
        return 1.0, "B"
    exp = min(int(math.log(largest, 1024)), len(_BYTE_UNITS) - 1)
    return float(1024**exp), _BYTE_UNITS[exp]


def human_bytes(n: object) -> str:
    """`1.5 GiB`, `412 MiB`; an empty value is shown as an en dash."""
    if pd.isna(n):
        return DASH
    divisor, unit = byte_unit(abs(float(n)))
    return f"{float(n) / divisor:.3g} {unit}" if unit != "B" else f"{int(n)} B"


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
