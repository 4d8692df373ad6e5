"""Fixtures of the executor tests (helpers: executor_support.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def behave(monkeypatch):
    """behave("crash", "ok"): what the stand-in does in each scenario, in plan order."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MEMSWEEP_MPIEXEC", raising=False)

    def set_behaviour(*behaviours: str) -> None:
        monkeypatch.setenv("STAND_IN_BEHAVIOUR", ",".join(behaviours))

    return set_behaviour
