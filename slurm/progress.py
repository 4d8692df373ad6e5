"""What `memsweep run` prints: one line per scenario and a summary (pure formatting + a printer).

    [ 3/14] tiny · 2 ranks · zero_stage=2 ... ok          11.8s  (elapsed 0:35, eta 2:10)

A scenario is named by what differs from the catalogue's defaults (suite/scenario_name.py).
"""

from __future__ import annotations

import os
import shlex
import statistics
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

_COLORS = {"ok": "32", "skipped": "33"}  # green, yellow; every other status red
_STATUS_WIDTH = max(len(s) for s in ("cancelled", "node_fail", "skipped"))


@dataclass(frozen=True, kw_only=True)
class Done:
    """One finished line: what the summary needs to list it again."""

    index: int
    label: str
    status: str
    reason: str | None = None
    log_path: str | None = None


def clock(seconds: float) -> str:
    """0:35, 12:04, 1:02:03."""
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def eta_s(durations: Sequence[float], remaining: int) -> float | None:
    """Time left: the median run so far times the runs still to launch (None: no basis yet)."""
    if remaining <= 0:
        return 0.0
    return statistics.median(durations) * remaining if durations else None


def head(index: int, total: int, text: str, width: int) -> str:
    n = len(str(total))
    return f"[{index:>{n}}/{total}] {text:<{width}} ... "


def tail(*, status: str, duration_s: float | None, elapsed_s: float, eta: float | None,
         note: str | None = None, color: bool = False) -> str:
    shown = f"{status:<{_STATUS_WIDTH}}"
    if color:
        shown = f"\033[{_COLORS.get(status, '31')}m{shown}\033[0m"
    took = f"{duration_s:6.1f}s" if duration_s is not None else f"{'-':>7}"
    times = f"elapsed {clock(elapsed_s)}" + (f", eta {clock(eta)}" if eta and eta >= 1 else "")
    return f"{shown} {took}  ({times})" + (f"  {note}" if note else "")


def summary(*, done: Sequence[Done], total: int, elapsed_s: float, out: Path) -> list[str]:
    counts = Counter(d.status for d in done)
    by_status = ", ".join(f"{n} {s}" for s, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    lines = [f"{len(done)} of {total} runs in {clock(elapsed_s)}: {by_status or 'none'}"]
    if len(done) < total:
        lines.append(f"interrupted: {total - len(done)} runs not started; run the same command "
                     f"again with --resume to do them and keep the ok ones")
    not_ok = [d for d in done if d.status != "ok"]
    if not_ok:
        lines.append("not ok:")
        width = len(str(total))
        for d in not_ok:
            where = f" (log: {d.log_path})" if d.log_path else ""
            lines.append(f"  [{d.index:>{width}}] {d.label}: {d.status}: "
                         f"{(d.reason or '').splitlines()[0] if d.reason else '?'}{where}")
    lines += [f"records: {out / 'runs'}", f"logs:    {out / 'logs'}",
              f"next:    memsweep report {shlex.quote(str(out))}"]
    return lines


def wants_color(stream: TextIO, environ: Mapping[str, str] = os.environ) -> bool:
    return stream.isatty() and "NO_COLOR" not in environ  # https://no-color.org


class Printer:
    """Prints the lines; on a terminal the head shows while its run is going."""

    def __init__(self, *, total: int, width: int, stream: TextIO | None = None) -> None:
        stream = stream or sys.stdout  # looked up now: sys.stdout may have been replaced
        self.total, self.width, self.stream = total, width, stream
        self.live = stream.isatty()
        self.color = wants_color(stream)
        self._head = ""

    def start(self, index: int, text: str) -> None:
        self._head = head(index, self.total, text, self.width)
        if self.live:
            self.stream.write(self._head)
            self.stream.flush()

    def finish(self, **kwargs) -> None:
        line = tail(color=self.color, **kwargs)
        self.stream.write((line if self.live else self._head + line) + "\n")
        self.stream.flush()

    def lines(self, lines: Sequence[str]) -> None:
        self.stream.write("".join(f"{line}\n" for line in lines))
        self.stream.flush()
