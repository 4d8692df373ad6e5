"""Shared pieces of the executor tests: sweeps, the stand-in worker, the leftover-process check.

(A uniquely named module, not conftest.py: test folders without __init__.py share one
`conftest` module name.)
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import psutil

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


def leftovers(marker: str, wait_s: float = 5.0) -> list[str]:
    """Live processes whose command line names `marker` (the test's own folder).

    Waits a little: a SIGKILLed process takes a moment to leave the table.
    """
    end = time.monotonic() + wait_s
    while True:
        found = []
        for p in psutil.process_iter(["cmdline", "status"]):
            try:
                if p.info["status"] != psutil.STATUS_ZOMBIE and \
                        marker in " ".join(p.info["cmdline"] or ()):
                    found.append(f"{p.pid}: {' '.join(p.info['cmdline'])}")
            except psutil.Error:
                pass
        if not found or time.monotonic() > end:
            return found
        time.sleep(0.2)
