"""Shared pieces of the executor tests: sweeps, the stand-in worker, the leftover-process check.

(A uniquely named module, not conftest.py: test folders without __init__.py share one
`conftest` module name.)
"""

from __future__ import annotations

import json
from pathlib import Path

from reliability.inject import leftovers  # noqa: F401 - re-exported for the executor tests
from results.schema import RunRecord
from results.store import record_path
from suite.sweep import Sweep, parse_sweep

REPO = Path(__file__).resolve().parents[2]
STAND_IN = Path(__file__).with_name("stand_in_worker.py")
STAND_IN_WORKER = (str(STAND_IN),)


def sweep_doc(*, timeout_s: int = 60, **axes) -> dict:
    """A sweep of the tiny model; one scenario per zero_stage given (default: one, stage 0)."""
    return {"sweep": {"name": "t", "warmup_steps": 1, "timed_steps": 2, "timeout_s": timeout_s},
            "axes": {"model": "tiny", "world_size": 2, "zero_stage": [0], **axes}}


def make_sweep(**kwargs) -> Sweep:
    return parse_sweep(sweep_doc(**kwargs))


def to_toml(doc: dict) -> str:
    """The tiny subset of TOML sweep_doc needs (tomllib reads, nothing writes)."""
    lines = []
    for table, values in doc.items():
        lines.append(f"[{table}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


def records(sweep: Sweep, out: Path) -> list[RunRecord | None]:
    """Each scenario's record in plan order, None where there is none."""
    found = []
    for s in sweep.scenarios:
        path = record_path(out, s.run_id)
        found.append(RunRecord.from_json(json.loads(path.read_text())) if path.exists() else None)
    return found
