"""Reading sweep folders: every record and quarantined file, and their tidy frame."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from results.frame import records_frame
from results.load import Quarantined, load_records
from results.schema import RunRecord
from results.store import runs_dir
from suite.errors import UserInputError


@dataclass(frozen=True, kw_only=True)
class Sources:
    dirs: tuple[Path, ...]
    records: tuple[RunRecord, ...]
    quarantined: tuple[Quarantined, ...]
    frame: pd.DataFrame  # records_frame of all records, plus `source_dir`


def load_sources(dirs: list[Path]) -> Sources:
    """Load every DIR/runs/*.json; a folder that is not a sweep output is a user error."""
    if not dirs:
        raise UserInputError("no sweep folder given", fix="pass one or more sweep output folders")
    records, bad, source = [], [], []
    for d in map(Path, dirs):
        if not runs_dir(d).is_dir():
            raise UserInputError(
                f"{d} is not a sweep output folder (it has no runs/ folder)", source=str(d),
                fix="pass the folder given to `memsweep run --out` (the one holding runs/)")
        found, quarantined = load_records(d)
        records += found
        bad += quarantined
        source += [str(d)] * len(found)
    frame = records_frame(records)
    frame["source_dir"] = pd.Series(source, index=frame.index, dtype="object")
    return Sources(dirs=tuple(map(Path, dirs)), records=tuple(records),
                   quarantined=tuple(bad), frame=frame)
