"""Fixtures of the reliability tests: a case is one small sweep run by `memsweep run` itself.

The fault campaign's Case (reliability/campaign.py) does the launching; the faults come from
outside, through reliability/inject.py, as in `memsweep faults`.
"""

from __future__ import annotations

import random

import pytest

from reliability.case import Case
from reliability.shim import make_shim


@pytest.fixture
def make_case(tmp_path, monkeypatch):
    """make_case("rank-sigkill"): a Case in tmp_path, stand-in worker unless deepspeed=True."""
    monkeypatch.delenv("MEMSWEEP_MPIEXEC", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    shim = make_shim(tmp_path / "shim")
    made = []

    def make(kind: str, *, deepspeed: bool = False, seed: int = 0) -> Case:
        case = Case(number=len(made) + 1, kind=kind, folder=tmp_path / f"{len(made) + 1:02d}",
                    rng=random.Random(seed), deepspeed=deepspeed, shim=shim)
        made.append(case)
        return case

    yield make
    for case in made:  # whatever a failed assertion left running (normally nothing)
        case.verify()
