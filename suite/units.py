"""Byte sizes as people write them ("80GiB", "512M") and as reports print them ("1.5 GiB").

analysis/units.py shows the report's other quantities (counts, rates, times) with these bytes.
"""

from __future__ import annotations

import math
import re

from suite.errors import UserInputError

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "kib": 2**10, "m": 10**6, "mb": 10**6,
          "mib": 2**20, "g": 10**9, "gb": 10**9, "gib": 2**30, "t": 10**12, "tb": 10**12,
          "tib": 2**40}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")
_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def parse_bytes(text: str, *, key: str = "capacity") -> int:
    match = _SIZE.fullmatch(text)
    if not match or match.group(2).lower() not in _UNITS:
        raise UserInputError(f"{text!r} is not a size", key=key,
                             fix="write e.g. 80GiB, 40GB, 512MiB or a number of bytes")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def byte_unit(largest: float) -> tuple[float, str]:
    """(divisor, name) of the binary unit that shows `largest` as 1 to 1023."""
    if not largest >= 1024:  # NaN too
        return 1.0, "B"
    exp = min(int(math.log(largest, 1024)), len(_BYTE_UNITS) - 1)
    return float(1024**exp), _BYTE_UNITS[exp]


def format_bytes(n: float | None, *, empty: str = "-") -> str:
    """`1.5 GiB`, `412 MiB`, `512 B`; `empty` for None."""
    if n is None:
        return empty
    divisor, unit = byte_unit(abs(n))
    return f"{n / divisor:.3g} {unit}" if unit != "B" else f"{int(n)} B"
