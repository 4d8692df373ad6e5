"""The on-disk layout of a sweep folder and the atomic one-file-per-run writer.

    DIR/runs/<run_id>.json     one record per run (the last attempt wins)
    DIR/logs/<run_id>.log      the ranks' combined output
    DIR/plan.json              the scenarios of the sweep, written before anything runs
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from results.schema import RunRecord
from suite.names import check_name


def runs_dir(root: Path) -> Path:
    return Path(root) / "runs"


def logs_dir(root: Path) -> Path:
    return Path(root) / "logs"


def record_path(root: Path, run_id: str) -> Path:
    return runs_dir(root) / f"{check_name(run_id, what='run_id')}.json"


def log_path(root: Path, run_id: str) -> Path:
    return logs_dir(root) / f"{check_name(run_id, what='run_id')}.log"


def write_json_atomic(path: Path, data: object) -> None:
    """Write so a reader sees the old file or the whole new one, never a part (even on SIGKILL)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


def write_record(root: Path, record: RunRecord) -> Path:
    path = record_path(root, record.run_id)
    write_json_atomic(path, record.to_json())
    return path
