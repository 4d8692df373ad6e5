"""Reading record files: the one reader, valid records out, bad files into quarantine.

Every caller (the loader, the frame cache, `--resume` and `status`) reads a file
through `read_file`: its bytes without ever blocking (a FIFO or device under a
record's name is refused, not opened for reading), decoded by `schema.decode`,
its run_id checked against its name.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path

from results.schema import RunRecord, SchemaError, decode
from results.store import runs_dir


@dataclass(frozen=True, kw_only=True)
class Quarantined:
    path: str
    problem: str


# What identifies a record file's version for the frame cache, with its name: (size, mtime_ns).
# A plain tuple: a folder of many thousands of files is stamped on every load.
Stamp = tuple[int, int]


def load_records(root: str | Path) -> tuple[list[RunRecord], list[Quarantined]]:
    """Every `runs/*.json` under `root`; a file that is not a valid v1 record is quarantined."""
    records, bad = [], []
    for record, problem in iter_records(root):
        if record is not None:
            records.append(record)
        else:
            bad.append(problem)
    return records, bad


def iter_records(root: str | Path) -> Iterator[tuple[RunRecord | None, Quarantined | None]]:
    """`(record, None)` or `(None, quarantined)` per `runs/*.json`, in file-name order."""
    folder = runs_dir(Path(root))
    for name in record_names(folder):
        record, problem, _ = read_file(folder / name)
        yield record, problem


def read_file(path: str | Path) -> tuple[RunRecord | None, Quarantined | None, Stamp | None]:
    """`(record, None, stamp)` if the file at `path` holds a valid record under its own name,
    else `(None, quarantined, None)`. The stamp is the one of the bytes read. (A path as text
    is quicker: the frame cache reads many thousands.)"""
    try:
        raw, stamp = _read(path)
        record = decode(raw)
        if record.run_id != os.path.basename(path)[:-5]:
            raise SchemaError(f"run_id {record.run_id!r} does not match the file name")
        return record, None, stamp
    except (OSError, ValueError) as e:  # SchemaError is a ValueError
        return None, Quarantined(path=str(path), problem=str(e)[:300]), None


def read_record(path: Path) -> RunRecord:
    """The record in the file at `path` if it is a valid one (by the loader's rules, its name
    aside); else OSError or ValueError (SchemaError) saying why. Never blocks on a FIFO."""
    return decode(_read(path)[0])


def _read(path: str | Path) -> tuple[bytes, Stamp]:
    """A file's bytes and stamp; a FIFO, device or folder named *.json is an OSError (it never
    blocks). The stamp comes from the open file: the version read, even if it is replaced."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(f"{os.path.basename(path)} is not a regular file")
        # one read of the size fstat gave (no buffered file object: many thousands are read);
        # a file that changed size since, or a short read, is read on to its end
        raw = os.read(fd, st.st_size + 1)
        if len(raw) != st.st_size:
            parts = [raw]
            while more := os.read(fd, 1 << 20):
                parts.append(more)
            raw = b"".join(parts)
    finally:
        os.close(fd)
    return raw, (st.st_size, st.st_mtime_ns)


def record_names(folder: Path) -> list[str]:
    """The names of `folder/*.json` in order (as `Path.glob`: hidden names too); none if no
    folder."""
    try:
        with os.scandir(folder) as entries:
            return sorted(e.name for e in entries if e.name.endswith(".json"))
    except (FileNotFoundError, NotADirectoryError):
        return []


def record_stamps(folder: Path) -> dict[str, Stamp | None]:
    """Each `folder/*.json` by name, in order, with its stamp; None for what is not a regular
    file (never cached: read, and quarantined, each time)."""
    try:
        with os.scandir(folder) as found:
            entries = sorted((e for e in found if e.name.endswith(".json")), key=_name)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    stamps = {}
    for e in entries:
        try:
            st = e.stat()
        except OSError:  # gone, or a dangling link: the reader says which
            stamps[e.name] = None
            continue
        stamps[e.name] = (st.st_size, st.st_mtime_ns) if stat.S_ISREG(st.st_mode) else None
    return stamps


_name = attrgetter("name")
