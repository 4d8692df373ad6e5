"""Loading a sweep folder: valid records into a frame, bad files into quarantine."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from results.schema import RunRecord, SchemaError
from results.store import runs_dir


@dataclass(frozen=True, kw_only=True)
class Quarantined:
    path: str
    problem: str


def load_records(root: str | Path) -> tuple[list[RunRecord], list[Quarantined]]:
    """Every `runs/*.json` under `root`; a file that is not a valid v1 record is quarantined."""
    records, bad = [], []
    for path in sorted(runs_dir(Path(root)).glob("*.json")):
        try:
            record = RunRecord.from_json(json.loads(path.read_bytes()))
            if record.run_id != path.stem:
                raise SchemaError(f"run_id {record.run_id!r} does not match the file name")
            records.append(record)
        except (OSError, ValueError) as e:  # JSONDecodeError and SchemaError are ValueErrors
            bad.append(Quarantined(path=str(path), problem=str(e)[:300]))
    return records, bad
