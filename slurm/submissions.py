"""DIR/slurm.json: what was submitted for the sweep in DIR, so `status` knows what to ask Slurm.

    {"sweep": "smoke", "submissions": [
      {"array_job_id": "40", "report_job_id": "46", "indices": [0, 1, 2], "attempts": [1, 1, 1],
       "submitted_at": "2026-11-25T19:57:37+00:00", "settings": {...}, "nodes": 1}]}

One entry per job array: a `memsweep submit` (a --resume too) adds one per node count
(slurm/node_shapes.py), all with the same submitted_at and report job. Written atomically
after each sbatch, so a submission whose report job failed to submit still knows its arrays.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path

from results.store import write_json_atomic
from suite.errors import UserInputError
from suite.plan import PLAN_FILE, Plan, plan_path
from suite.scenario import Scenario

FILE = "slurm.json"


@dataclass(frozen=True, kw_only=True)
class Submission:
    array_job_id: str
    report_job_id: str | None = None
    indices: tuple[int, ...]  # plan positions this array runs (its task ids)
    attempts: tuple[int, ...]  # the attempt each of them runs, in the same order
    submitted_at: str  # ISO 8601: a record started before this is not from this submission
    settings: dict = field(default_factory=dict)  # what was submitted with (--resume reuses it)
    nodes: int | None = None  # what each task of this array asks for (None: before it was kept)

    def __post_init__(self) -> None:
        if len(self.indices) != len(self.attempts):
            raise ValueError("indices and attempts must pair up")

    def attempt_of(self, index: int) -> int:
        return self.attempts[self.indices.index(index)]

    def task(self, index: int) -> str:
        return f"{self.array_job_id}_{index}"

    @property
    def submitted(self) -> datetime:
        return datetime.fromisoformat(self.submitted_at)


def path(out: Path) -> Path:
    return Path(out) / FILE


def load(out: Path) -> list[Submission]:
    """The submissions recorded in `out`, oldest first ([] when nothing was submitted)."""
    p = path(out)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        return [Submission(**{**s, "indices": tuple(s["indices"]),
                              "attempts": tuple(s["attempts"])}) for s in data["submissions"]]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UserInputError(f"not a readable submission file: {e}", source=str(p),
                             fix="restore it, or submit the sweep again into a new folder"
                             ) from None


def save(out: Path, sweep: str, submissions: list[Submission]) -> None:
    write_json_atomic(path(out), {"sweep": sweep,
                                  "submissions": [asdict(s) for s in submissions]})


def with_report(sub: Submission, report_job_id: str) -> Submission:
    return replace(sub, report_job_id=report_job_id)


def latest(submissions: list[Submission]) -> list[Submission]:
    """The arrays of the last `memsweep submit`: those submitted with the last one."""
    if not submissions:
        return []
    return [s for s in submissions if s.submitted_at == submissions[-1].submitted_at]


def owners(submissions: list[Submission]) -> dict[int, Submission]:
    """For each plan index, the latest submission that ran it: the one that speaks for it now."""
    owner: dict[int, Submission] = {}
    for sub in submissions:
        for index in sub.indices:
            owner[index] = sub
    return owner


def load_plan(folder: Path) -> tuple[str, list[Scenario], Plan]:
    """The sweep name, the scenarios (array task i runs scenario i) and the plan of `folder`."""
    if not plan_path(folder).exists():
        raise UserInputError(f"no {PLAN_FILE} here: not a sweep output folder",
                             source=str(folder),
                             fix="give the --out folder of `memsweep submit` (or `run`)")
    plan = Plan.read(plan_path(folder))
    return plan.sweep, list(plan.scenarios), plan
