"""Signals turned into a flag while a launcher waits on its ranks (slurm/local.py,
slurm/task.py): a signal never lands in the middle of writing a record; the wait loop sees
the flag, stops the ranks and records the run."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterable


class Caught:
    """While entered, each of `signals` sets `signum` (the first one wins) instead of acting.
    Off the main thread nothing is caught: Python delivers signals to the main thread only."""

    def __init__(self, signals: Iterable[int]) -> None:
        self.signals = tuple(signals)
        self.signum = 0
        self._saved: dict[int, object] = {}

    def __enter__(self) -> Caught:
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame) -> None:
        self.signum = self.signum or signum

    def __exit__(self, *exc) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)
        self._saved.clear()
