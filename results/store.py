"""The on-disk layout of a sweep folder and the one-file-per-run writer.

    DIR/runs/<run_id>.json     one record per run (the last attempt wins)
    DIR/logs/<run_id>.log      the ranks' combined output
    DIR/plan.json              the scenarios of the sweep, written before anything runs
                               (suite/plan.py)
"""

from __future__ import annotations

from pathlib import Path

from results.schema import RunRecord
from suite.files import write_json_atomic  # also the writer of the plan file (suite/plan.py)
from suite.names import check_name


def runs_dir(root: Path) -> Path:
    return Path(root) / "runs"


def logs_dir(root: Path) -> Path:
    return Path(root) / "logs"


def record_path(root: Path, run_id: str) -> Path:
    return runs_dir(root) / f"{check_name(run_id, what='run_id')}.json"


def log_path(root: Path, run_id: str) -> Path:
    return logs_dir(root) / f"{check_name(run_id, what='run_id')}.log"


def write_record(root: Path, record: RunRecord) -> Path:
    path = record_path(root, record.run_id)
    write_json_atomic(path, record.to_json())
    return path
