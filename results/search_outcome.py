"""The outcome of one capacity search: a record per combination, beside the probes' run records.

    DIR/searches/<search_id>.json

Written atomically after every probe, so `status`, `--resume` and the report see the bracket
so far. The probes themselves are ordinary run records (DIR/runs/<run_id>.json); this file
only lists them and what the search concluded.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from results.store import write_json_atomic
from suite.names import check_name

SCHEMA_VERSION = 1
# searching: not finished; found: last ok and first failing within the resolution;
# all_fit: the upper end ran ok; none_fit: the lower end did not fit; failed: a probe ended
# for a reason other than memory (no boundary is claimed); cancelled: interrupted.
STATUSES = ("searching", "found", "all_fit", "none_fit", "failed", "cancelled")
FINISHED = ("found", "all_fit", "none_fit")  # a resume leaves these searches alone


@dataclass(frozen=True, kw_only=True)
class ProbeResult:
    value: str | int  # the searched axis's value
    size: int  # parameters for a model search, the value otherwise
    run_id: str
    status: str  # the probe's run record status
    reused: bool = False  # its record was already there (never run twice)
    peak_bytes: int | None = None  # per-rank max of what the budget counts, where measured


@dataclass(frozen=True, kw_only=True)
class SearchOutcome:
    search_id: str
    sweep: str
    axis: str
    combination: dict  # every other axis's value
    label: str  # the combination for people (suite/scenario_name.py)
    budget_bytes: int | None
    resolution: float
    predicted_value: str | int | None  # the analytical model's boundary (where it started)
    predicted_size: int | None
    status: str = "searching"
    reason: str | None = None
    last_ok: ProbeResult | None = None
    first_failed: ProbeResult | None = None
    probes: tuple[ProbeResult, ...] = field(default_factory=tuple)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        check_name(self.search_id, what="search_id")
        if self.status not in STATUSES:
            raise ValueError(f"search status {self.status!r} is not one of {STATUSES}")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> SearchOutcome:
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"search outcome schema {data.get('schema_version')!r}, "
                             f"expected {SCHEMA_VERSION}")
        return cls(**{**data, "last_ok": _probe(data.get("last_ok")),
                      "first_failed": _probe(data.get("first_failed")),
                      "probes": tuple(ProbeResult(**p) for p in data.get("probes", ()))})


def _probe(data: dict | None) -> ProbeResult | None:
    return None if data is None else ProbeResult(**data)


def searches_dir(root: Path) -> Path:
    return Path(root) / "searches"


def outcome_path(root: Path, search_id: str) -> Path:
    return searches_dir(root) / f"{check_name(search_id, what='search_id')}.json"


def write_outcome(root: Path, outcome: SearchOutcome) -> Path:
    path = outcome_path(root, outcome.search_id)
    write_json_atomic(path, outcome.to_json())
    return path


def load_outcomes(root: Path) -> list[SearchOutcome]:
    """Every search outcome of a sweep folder; a damaged file is skipped (its probes' records
    still hold every measurement, and the search can be resumed from them)."""
    out = []
    for path in sorted(searches_dir(root).glob("*.json")):
        try:
            out.append(SearchOutcome.from_json(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError, KeyError):
            continue
    return out
