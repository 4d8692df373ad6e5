"""Reading sweep folders: the tidy frame of every record, the quarantined files, the fingerprints.

A folder given may be a sweep folder (it holds runs/) or hold sweep folders at
any depth, e.g. a history of nightly runs `HISTORY/<night>/<partition>/runs/`:
every sweep folder found is read, and `source_dir` names it on each row.
Records are not kept, only their frame rows and a count of fingerprint values,
so memory grows with the rows, not with the records' JSON. Each sweep folder is
read through its frame cache (results/cache.py): only new or changed records are
decoded.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from results.cache import FolderFrame, combined_frame, folder_frame, is_current
from results.frame import records_frame
from results.load import Quarantined
from results.paused_gc import paused_gc
from results.search_outcome import SearchOutcome, load_outcomes
from results.store import runs_dir
from suite.errors import UserInputError
from suite.host_cores import usable_cores

MAX_DEPTH = 6  # folder levels searched below a folder given for sweep folders
MAX_VALUES = 50  # distinct values counted per fingerprint entry
PARALLEL_FROM = 20_000  # records to decode: from here the folders are read by a process per core


@dataclass(frozen=True, kw_only=True)
class Fingerprints:
    """How often each fingerprint entry took each value (up to MAX_VALUES values per entry)."""

    n_records: int = 0
    values: dict[str, Counter] = field(default_factory=dict)
    overflow: frozenset[str] = frozenset()  # entries with more distinct values than counted


@dataclass(frozen=True, kw_only=True)
class Sources:
    dirs: tuple[Path, ...]  # the folders given
    sweep_dirs: tuple[Path, ...]  # the sweep folders found in them
    quarantined: tuple[Quarantined, ...]
    fingerprints: Fingerprints
    frame: pd.DataFrame  # records_frame of all records, plus `source_dir`
    searches: tuple[SearchOutcome, ...] = ()  # capacity searches' outcomes (DIR/searches)


def load_sources(dirs: list[Path], *, drop: tuple[str, ...] = ()) -> Sources:
    """Load every sweep folder in `dirs`; a folder without any is a user error. The frame
    leaves out the columns named in `drop` (each folder's, as it is read: the report's
    frame of a million rows is then a third smaller to build and hold)."""
    if not dirs:
        raise UserInputError("no sweep folder given", fix="pass one or more sweep output folders")
    found = [s for d in map(Path, dirs) for s in sweep_dirs(d)]
    found = list(dict.fromkeys(found))  # a folder given twice is read once
    quarantined: list[Quarantined] = []
    counts: list[Fingerprints] = []
    unwritable: list[tuple[Path, str]] = []

    def reads() -> Iterator[FolderFrame]:
        """Each folder's rows as it is read (joined into the frame as they come, and let go);
        the rest of what was read kept aside."""
        for folder, (read, bad, prints, why) in zip(found, _read_all(found, drop), strict=True):
            quarantined.extend(bad)
            counts.append(prints)
            if why:
                unwritable.append((folder, why))
            yield read

    with paused_gc():  # the rows read are long-lived: nothing for the collector to free
        frame = combined_frame(reads(), [str(f) for f in found]) if found else \
            _with_source(_dropped(records_frame([]), drop), "")
    prints = _all_counted(counts)
    if unwritable:
        folder, why = unwritable[0]
        print(f"memsweep: the frame cache could not be written in {len(unwritable)} sweep "
              f"folder(s) (first: {folder}: {why}); they load from their records each time",
              file=sys.stderr)
    return Sources(dirs=tuple(map(Path, dirs)), sweep_dirs=tuple(found),
                   quarantined=tuple(quarantined), fingerprints=prints,
                   frame=frame, searches=tuple(o for d in found for o in load_outcomes(d)))


def sweep_dirs(folder: Path) -> list[Path]:
    """`folder` if it holds runs/, else the sweep folders below it (sorted, MAX_DEPTH levels)."""
    found = _search(Path(folder), MAX_DEPTH)
    if not found:
        raise UserInputError(
            f"{folder} is not a sweep output folder (it has no runs/ folder, nor any folder "
            "below it)", source=str(folder),
            fix="pass the folder given to `memsweep run --out` (the one holding runs/), or a "
                "folder of such folders")
    return found


def _search(folder: Path, depth: int) -> list[Path]:
    if runs_dir(folder).is_dir():
        return [folder]
    if depth == 0:
        return []
    try:
        children = sorted(e.name for e in os.scandir(folder)
                          if e.is_dir() and not e.name.startswith(".") and e.name != "logs")
    except OSError:
        return []
    return [s for name in children for s in _search(folder / name, depth - 1)]


def _read_all(folders: list[Path], drop: tuple[str, ...]) -> Iterator[tuple]:
    """`_read` of every folder, in order, as each is read; in a process per core when there
    are many records to decode (folders without a cache made by this code: with one, reading
    is mostly the cache, quick in one; a thread per core did not pay either: 2-core machine,
    100k records, five alternated warm loads, 1.21-1.67 s in one thread, 1.31-1.67 in two)."""
    sizes = [0 if is_current(f) else _count(f) for f in folders]
    workers = min(usable_cores(), len(folders))
    if sum(sizes) < PARALLEL_FROM or workers < 2:
        yield from (_read(f, drop) for f in folders)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        # a few folders a task: a worker holds (and sends) no more than their rows at once
        chunk = max(1, min(8, len(folders) // (4 * workers)))
        yield from pool.map(_read, folders, [drop] * len(folders), chunksize=chunk)


def _count(folder: Path) -> int:
    try:
        return sum(1 for _ in os.scandir(runs_dir(folder)))
    except OSError:
        return 0


def _read(folder: Path, drop: tuple[str, ...] = ()
          ) -> tuple[FolderFrame, list[Quarantined], Fingerprints, str | None]:
    """The rows (but the columns in `drop`), quarantined files and fingerprint counts of one
    sweep folder, and why its frame cache could not be written (None if it was, or needed no
    writing)."""
    read = folder_frame(folder)  # the cache keeps every column
    if drop:  # here, in the worker: what is left out is not sent
        read = replace(read, uncached=None if read.uncached is None else
                       _dropped(read.uncached, drop),
                       table=None if read.table is None else _table_dropped(read.table, drop))
    values = {key: Counter(counts) if len(counts) <= MAX_VALUES
              else Counter(dict(Counter(counts).most_common(MAX_VALUES)))
              for key, counts in read.fingerprints.items()}
    overflow = frozenset(k for k, counts in read.fingerprints.items() if len(counts) > MAX_VALUES)
    rows = read.table.num_rows if read.table is not None else len(read.uncached)
    return read, list(read.quarantined), _capped(rows, values, overflow), read.unwritable


def _dropped(frame: pd.DataFrame, drop: tuple[str, ...]) -> pd.DataFrame:
    return frame.drop(columns=[c for c in drop if c in frame])


def _table_dropped(table, drop: tuple[str, ...]):
    """An Arrow table without the columns in `drop`. By position (`select`): drop_columns
    by name took 0.5 ms a folder, 0.1 s of a 100k warm load, select 0.03 ms."""
    gone = set(drop)
    return table.select([i for i, name in enumerate(table.schema.names) if name not in gone])


def _with_source(frame: pd.DataFrame, folder: str) -> pd.DataFrame:
    frame["source_dir"] = pd.Series(folder, index=frame.index, dtype="object")
    return frame


def _all_counted(parts: list[Fingerprints]) -> Fingerprints:
    """The folders' counts as one (each entry's counts summed, then capped)."""
    values: dict[str, Counter] = {}
    overflow: set[str] = set()
    for part in parts:
        for key, counts in part.values.items():
            values.setdefault(key, Counter()).update(counts)
        overflow |= part.overflow
    return _capped(sum(p.n_records for p in parts), values, frozenset(overflow))


def _capped(n: int, values: dict[str, Counter], overflow: frozenset) -> Fingerprints:
    over = set(overflow)
    for key, counts in values.items():
        if len(counts) > MAX_VALUES:
            values[key] = Counter(dict(counts.most_common(MAX_VALUES)))
            over.add(key)
    return Fingerprints(n_records=n, values=values, overflow=frozenset(over))
