"""The frame cache of a sweep folder: its records' frame rows, kept beside them in Parquet.

    DIR/.frame-cache.parquet

One row per valid record, in file-name order: the `rows_frame` columns (`night`
aside: derived when read), the record file's name, size and mtime (the key), and
its fingerprint entries (for the report's environment table; their counts are in
the file's metadata). `folder_frame` reads the cache, keeps the rows whose file
is unchanged, decodes only the files that changed or appeared, and writes the
cache again (atomically) if anything differed.

The records stay the data: the cache may be deleted at any time. It is never
trusted beyond what it can prove: a cache that cannot be read, fails its page
checksums, or was made by other code (`STAMP`: this format, the frame's code and
the catalogue) is rebuilt; a row whose file changed size or mtime, or whose
mtime is too close to when the cache was made to tell two versions apart
(`RACY_NS`), is decoded again. A folder where the cache cannot be written still
loads, without it. Bad files are never cached: they are read and quarantined on
every load.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import results.frame
import results.frame_peaks
import results.schema
import suite.run_settings
import suite.scenario
from results.frame import bare_frame, concat_frames, record_row, with_night
from results.load import Quarantined, Stamp, read_file, record_stamps
from results.store import runs_dir
from suite.axes import AXES
from suite.models import MODELS

CACHE_NAME = ".frame-cache.parquet"
FORMAT = 1
RACY_NS = 2 * 10**9  # a file modified this close to the cache's scan may have changed again
_KEY = ("_name", "_size", "_mtime_ns", "_fingerprint")
_FINGERPRINT = pa.map_(pa.string(), pa.string())
_ENTRIES = pa.list_(pa.struct([("key", pa.string()), ("value", pa.string())]))
_META = b"memsweep.frame_cache"


def _stamp() -> str:
    """What the cached rows depend on besides the records: the cache format, the code that
    makes a row (frame, schema, scenario ids) and the catalogue (axes' defaults, model
    sizes). Any change makes every cache stale."""
    h = hashlib.sha256(str(FORMAT).encode())
    for module in (results.frame, results.frame_peaks, results.schema, suite.scenario,
                   suite.run_settings):
        h.update(Path(module.__file__).read_bytes())
    h.update(json.dumps([[a.name, repr(a.default)] for a in AXES.values()]).encode())
    h.update(json.dumps({name: spec.n_params for name, spec in MODELS.items()}).encode())
    return h.hexdigest()


STAMP = _stamp()


@dataclass(frozen=True, kw_only=True)
class FolderFrame:
    """What reading a sweep folder gave. Its rows are an Arrow table (the cache's columns)
    so that many folders become one frame in one conversion (`combined_frame`)."""

    table: pa.Table | None  # the rows_frame columns but night; None if Arrow cannot hold them
    uncached: pd.DataFrame | None  # then: the rows_frame itself
    quarantined: tuple[Quarantined, ...]
    fingerprints: dict[str, dict[str, int]]  # entry -> value (as text) -> how many records
    decoded: int  # record files decoded (the others came from the cache)
    unwritable: str | None = None  # why the cache could not be written, if it could not

    @property
    def frame(self) -> pd.DataFrame:
        """rows_frame of the folder's valid records, in file-name order."""
        return combined_frame([self])


def combined_frame(reads: list[FolderFrame], sources: list[str] | None = None, *,
                   consume: bool = False) -> pd.DataFrame:
    """The frames of `reads` in one, in order, as `concat_frames` would join them; with a
    `source_dir` column last if `sources` (one per read) are given. Reads whose tables have
    the same columns and types are converted to pandas together, in one go. `consume`: the
    caller holds no other reference to the reads, and `reads` is emptied as they are joined
    (their tables are let go before the rows become the frame: a smaller peak)."""
    frames, group, labels = [], [], []

    def flush() -> None:
        if group:
            counts = [t.num_rows for t in group]
            # one chunk per column: pandas' text columns keep Arrow's chunks, and indexing a
            # column of hundreds of chunks is many times slower
            table = pa.concat_tables(group).combine_chunks()
            group.clear()
            table = table.drop_columns([k for k in _KEY if k in table.column_names])
            # nothing else holds these columns now: each is let go once converted
            frame = with_night(table.to_pandas(self_destruct=True, split_blocks=True))
            del table
            if sources is not None:
                frame["source_dir"] = np.repeat(np.array(labels, dtype=object), counts)
            frames.append(frame)
            labels.clear()

    for i in range(len(reads)):
        read = reads[i]
        if consume:
            reads[i] = None  # its table stays in `group` only
        if read.table is not None and group and not _same_columns(read.table, group[0]):
            flush()
        if read.table is not None:
            group.append(read.table)
            labels.append(sources[i] if sources is not None else None)
            continue
        flush()
        frame = read.uncached.copy()
        if sources is not None:
            frame["source_dir"] = pd.Series(sources[i], index=frame.index, dtype="object")
        frames.append(frame)
    flush()
    return concat_frames(frames)


def _same_columns(a: pa.Table, b: pa.Table) -> bool:
    """Same columns, Arrow types and pandas types: one conversion to pandas fits both."""
    return a.schema.equals(b.schema) and \
        a.schema.metadata.get(b"pandas") == b.schema.metadata.get(b"pandas")


def cache_path(folder: Path) -> Path:
    return Path(folder) / CACHE_NAME


def folder_frame(folder: Path) -> FolderFrame:
    """The rows of a sweep folder's records, through its cache (see the module's text)."""
    folder = Path(folder)
    scanned_ns = time.time_ns()
    stamps = record_stamps(runs_dir(folder))
    cached = _read_cache(cache_path(folder))
    kept = _unchanged(cached, stamps) if cached is not None else None
    if kept is None:
        cached = None
    fresh = _decode(folder, [n for n in stamps if kept is None or n not in kept[1]])
    table, uncached = _table(fresh) if kept is None else _merged(kept[0], fresh)
    changed = cached is None or fresh.rows or len(kept[1]) != cached.num_rows
    if not changed:  # counted when the cache was written
        counts = json.loads(cached.schema.metadata[_META])["fingerprints"]
    elif table is not None:
        counts = _counts(table.column("_fingerprint").chunks)
    else:
        counts = _counts([pa.array(fresh.fingerprints, _FINGERPRINT),
                          *(kept[0].column("_fingerprint").chunks if kept else ())])
    unwritable = None
    if changed and table is not None and (cached is not None or table.num_rows):
        unwritable = _write(cache_path(folder), table, scanned_ns, counts)
    return FolderFrame(table=None if table is None else table.drop_columns(list(_KEY)),
                       uncached=uncached,
                       quarantined=tuple(fresh.bad), fingerprints=counts,
                       decoded=len(fresh.names), unwritable=unwritable)


@dataclass(frozen=True, kw_only=True)
class _Fresh:
    """What decoding some record files gave: rows, their stamps and fingerprint entries."""

    names: list[str]  # the files decoded
    names_read: list[str]  # of them, those holding a valid record (a row each)
    rows: list[dict]
    stamps: list[Stamp]
    fingerprints: list[list[tuple[str, str]]]
    bad: list[Quarantined]


def _decode(folder: Path, names: list[str]) -> _Fresh:
    fresh = _Fresh(names=names, names_read=[], rows=[], stamps=[], fingerprints=[], bad=[])
    runs = str(runs_dir(folder))
    for name in names:
        record, problem, stamp = read_file(os.path.join(runs, name))
        if record is None:
            fresh.bad.append(problem)
            continue
        fresh.rows.append(record_row(record))
        fresh.stamps.append(stamp)
        fresh.names_read.append(name)
        fresh.fingerprints.append(_entries(record.fingerprint))
    return fresh


def _entries(fingerprint: dict) -> list[tuple[str, str]]:
    """The fingerprint entries the environment table counts: non-empty scalars, as text."""
    return [(key, value if type(value) is str else str(value))
            for key, value in fingerprint.items()
            if value is not None and value != "" and isinstance(value, str | int | float | bool)]


def _table(fresh: _Fresh) -> tuple[pa.Table | None, pd.DataFrame | None]:
    """The cache table of freshly decoded rows; or, if a column has values of mixed types
    Arrow cannot hold (hand-written scenario values), no table and their frame (uncached)."""
    frame = bare_frame(fresh.rows)
    try:
        table = _arrow(frame)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None, with_night(frame)
    return _with_keys(table, pa.table({
        "_name": pa.array(fresh.names_read, pa.string()),
        "_size": pa.array([s[0] for s in fresh.stamps], pa.int64()),
        "_mtime_ns": pa.array([s[1] for s in fresh.stamps], pa.int64()),
        "_fingerprint": pa.array(fresh.fingerprints, _FINGERPRINT)})), None


def _with_keys(table: pa.Table, keys: pa.Table) -> pa.Table:
    for name in _KEY:
        table = table.append_column(name, keys.column(name))
    return table


def _frame_of(table: pa.Table) -> pd.DataFrame:
    """The rows_frame of a cache table's rows."""
    return with_night(table.drop_columns([k for k in _KEY if k in table.column_names])
                      .to_pandas())


def _arrow(frame: pd.DataFrame) -> pa.Table:
    """The frame's columns for the cache (`night` is derived again when read)."""
    if "night" in frame:
        frame = frame.drop(columns="night")
    return pa.Table.from_pandas(frame, preserve_index=False)


def _merged(kept: pa.Table, fresh: _Fresh) -> tuple[pa.Table | None, pd.DataFrame | None]:
    """The cached rows still valid and the fresh ones, in file-name order."""
    if not fresh.rows:
        return kept, None
    new, new_frame = _table(fresh)
    names = pa.concat_arrays([kept.column("_name").combine_chunks(),
                              pa.array(fresh.names_read, pa.string())])
    order = pc.sort_indices(names)
    if new is not None and _same_columns(new, kept):
        return pa.concat_tables([kept, new]).take(order), None
    # columns typed differently (an int axis with a gap on one side): as rows_frame would
    frame = concat_frames([_frame_of(kept), new_frame if new is None else _frame_of(new)])
    frame = frame.take(order.to_numpy()).reset_index(drop=True)
    try:
        table = _arrow(frame)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None, frame
    keys = pa.concat_tables([kept.select(list(_KEY)), new.select(list(_KEY))]) \
        if new is not None else None
    if keys is None:
        return None, frame
    return _with_keys(table, keys.take(order)), None


def _unchanged(cached: pa.Table, stamps: dict[str, Stamp | None]) \
        -> tuple[pa.Table, set[str]] | None:
    """The cached rows whose file is there, unchanged and not racy, and their names."""
    try:
        scanned = json.loads(cached.schema.metadata[_META])["scanned_ns"]
        names = cached.column("_name").to_pylist()
        sizes = cached.column("_size").to_numpy().tolist()
        mtimes = cached.column("_mtime_ns").to_numpy().tolist()
    except (KeyError, TypeError, ValueError, pa.ArrowException):
        return None
    trusted = scanned - RACY_NS
    keep = [stamps.get(n) == (size, mtime) and mtime < trusted
            for n, size, mtime in zip(names, sizes, mtimes, strict=True)]
    return (cached.filter(pa.array(keep, pa.bool_())),
            {n for n, k in zip(names, keep, strict=True) if k})


def _read_cache(path: Path) -> pa.Table | None:
    """The cache table if it is whole and was made by this code; else None (rebuilt)."""
    if not os.path.isfile(path):  # none yet: cheaper to ask than to fail opening it
        return None
    try:
        table = pq.read_table(path, page_checksum_verification=True)
        meta = json.loads(table.schema.metadata[_META])
        if meta.get("format") != FORMAT or meta.get("stamp") != STAMP or \
                type(meta.get("scanned_ns")) is not int or not _counts_shape(meta):
            return None
        if [table.schema.field(k).type for k in _KEY] != \
                [pa.string(), pa.int64(), pa.int64(), _FINGERPRINT]:
            return None
        if table.column("_name").null_count or \
                len(set(table.column("_name").to_pylist())) != table.num_rows:
            return None
        described = [c["name"] for c in table.schema.pandas_metadata["columns"]]
        if described + list(_KEY) != table.column_names:  # as _table writes them
            return None
        return table
    except FileNotFoundError:
        return None
    except (OSError, KeyError, TypeError, ValueError, pa.ArrowException):
        return None  # damaged, truncated or foreign: rebuilt


def _counts_shape(meta: dict) -> bool:
    counts = meta.get("fingerprints")
    return type(counts) is dict and all(
        type(v) is dict and all(type(n) is int for n in v.values()) for v in counts.values())


def _write(path: Path, table: pa.Table, scanned_ns: int, counts: dict) -> str | None:
    """Write the cache atomically (a reader sees the old one or the new one); None if done,
    else why not (a read-only folder: the frame is still right, only slower next time)."""
    meta = {**(table.schema.metadata or {}),
            _META: json.dumps({"format": FORMAT, "stamp": STAMP, "scanned_ns": scanned_ns,
                               "fingerprints": counts}).encode()}
    table = table.replace_schema_metadata(meta)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp")
    except OSError as e:
        return str(e)
    try:
        with os.fdopen(fd, "wb") as f:
            pq.write_table(table, f, write_page_checksum=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        return str(e)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return None


def _counts(entries: list[pa.Array]) -> dict[str, dict[str, int]]:
    """How many records have each (fingerprint entry, value), from their entries' maps."""
    flat = pa.concat_arrays(entries).cast(_ENTRIES).flatten()  # respects slices, as .keys not
    pairs = pa.table({"key": flat.field("key"), "value": flat.field("value")})
    counted = pairs.group_by(["key", "value"]).aggregate([("key", "count")])
    counts: dict[str, dict[str, int]] = {}
    for key, value, n in zip(*(c.to_pylist() for c in counted.columns), strict=True):
        counts.setdefault(key, {})[value] = n
    return counts
