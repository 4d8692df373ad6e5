"""The frame cache of a sweep folder: its records' frame rows, kept beside them.

    DIR/.frame-cache.arrow      a 64-byte header (magic, CRC-32, size, STAMP), then an
                                Arrow file

Arrow's own format (IPC), not Parquet: its columns are read in place, about 20
times quicker than decoding Parquet's pages (0.3 ms against 5-7 ms a folder of
486 records here), for about 3.5 times the bytes (about 1.5 kB a record, a
sixth of the record's JSON).

One row per valid record, in file-name order: the `records_frame` columns (`night`
aside: derived when read), the record file's name, size and mtime (the key), and
its fingerprint entries (for the report's environment table; their counts are in
the file's metadata). `folder_frame` reads the cache, keeps the rows whose file
is unchanged, decodes only the files that changed or appeared, and writes the
cache again (atomically) if anything differed.

The records stay the data: the cache may be deleted at any time. It is never
trusted beyond what it can prove: a cache that cannot be read, fails its
checksum, or was made by other code (`STAMP`: this format, the frame's code and
the catalogue) is rebuilt; a row whose file changed size or mtime, or whose
mtime is too close to when the cache was made to tell two versions apart
(`RACY_NS`), is decoded again. A folder where the cache cannot be written still
loads, without it. Bad files are never cached: they are read and quarantined on
every load.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import struct
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import compress
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

import results.frame
import results.frame_peaks
import results.per_run
import results.schema
import suite.run_settings
import suite.scenario
from results.frame import Loose, concat_frames, frame_columns, frame_table, table_frame, with_night
from results.freed_memory import large_blocks_mapped
from results.load import Quarantined, Stamp, read_file, record_names, record_stamps
from results.paused_gc import paused_gc
from results.store import runs_dir
from suite.axes import AXES
from suite.files import temporary_beside
from suite.models import MODELS

# Arrow's own allocator (mimalloc) keeps what it frees for Arrow; the frame's columns are
# allocated by numpy (malloc) as Arrow's are let go: with malloc for both, the memory is
# reused (a cold 100k load: 430 MiB peak RSS against 485 MiB).
pa.set_memory_pool(pa.system_memory_pool())

CACHE_NAME = ".frame-cache.arrow"
_PARQUET_NAME = ".frame-cache.parquet"  # format 1's file
FORMAT = 2
RACY_NS = 2 * 10**9  # a file modified this close to the cache's scan may have changed again
_KEY = ("_name", "_size", "_mtime_ns", "_fingerprint")
_FINGERPRINT = pa.map_(pa.string(), pa.string())
_ENTRIES = pa.list_(pa.struct([("key", pa.string()), ("value", pa.string())]))
_META = b"memsweep.frame_cache"
_MAGIC = b"memsweep-frames\n"
# magic, CRC-32 of the Arrow file after the header, its size, the STAMP it was made under
_HEADER = struct.Struct("<16sIQ32s")
_HEADER_SIZE = 64
_KEY_TYPES = (pa.string(), pa.int64(), pa.int64(), _FINGERPRINT)


def _stamp() -> str:
    """What the cached rows depend on besides the records: the cache format, the code that
    makes a row (frame, schema, scenario ids) and the catalogue (axes' defaults, model
    sizes). Any change makes every cache stale."""
    h = hashlib.sha256(str(FORMAT).encode())
    for module in (results.frame, results.frame_peaks, results.per_run, results.schema,
                   suite.scenario, suite.run_settings):
        h.update(Path(module.__file__).read_bytes())
    h.update(json.dumps([[a.name, repr(a.default)] for a in AXES.values()]).encode())
    h.update(json.dumps({name: spec.n_params for name, spec in MODELS.items()}).encode())
    return h.hexdigest()


STAMP = _stamp()


@dataclass(frozen=True, kw_only=True)
class FolderFrame:
    """What reading a sweep folder gave. Its rows are an Arrow table (the cache's columns)
    so that many folders become one frame in one conversion (`combined_frame`)."""

    table: pa.Table | None  # the records_frame columns but night; None if Arrow cannot hold them
    uncached: pd.DataFrame | None  # then: the records_frame itself
    quarantined: tuple[Quarantined, ...]
    fingerprints: dict[str, dict[str, int]]  # entry -> value (as text) -> how many records
    decoded: int  # record files decoded (the others came from the cache)
    unwritable: str | None = None  # why the cache could not be written, if it could not

    @property
    def frame(self) -> pd.DataFrame:
        """records_frame of the folder's valid records, in file-name order."""
        return combined_frame([self])


def combined_frame(reads: Iterable[FolderFrame], sources: Iterable[str] | None = None) \
        -> pd.DataFrame:
    """The frames of `reads` in one, in order, as `concat_frames` would join them; with a
    `source_dir` column last if `sources` (one per read) are given. Reads whose tables have
    the same columns and types are converted to pandas together, in one go. `reads` may be
    an iterator of folders as they are read: each folder's table is let go once joined into
    a batch (`_Group`), so that the peak is about one frame, not the folders' tables and the
    frame (a million rows: 1.3 GB)."""
    with large_blocks_mapped():
        return _combined(reads, sources)


def _combined(reads: Iterable[FolderFrame], sources: Iterable[str] | None) -> pd.DataFrame:
    frames: list[pd.DataFrame] = []
    group = _Group(labelled=sources is not None)
    labels = iter(sources) if sources is not None else None
    for read in reads:
        label = next(labels) if labels is not None else None
        if read.table is not None and group.takes(read.table):
            group.add(read.table, label)
            continue
        if group.counts:
            frames.append(group.frame())
            group = _Group(labelled=sources is not None)
        if read.table is not None:
            group.add(read.table, label)
            continue
        frame = read.uncached.copy()
        if label is not None:
            frame["source_dir"] = pd.Series(label, index=frame.index, dtype="object")
        frames.append(frame)
    if group.counts:
        frames.append(group.frame())
    return concat_frames(frames)


BATCH_ROWS = 1 << 16  # folders' rows joined into one table at a time (see _Group)


class _Group:
    """Folder tables of the same columns on their way to one frame. Every BATCH_ROWS rows
    the folders' tables are joined into one table of a chunk per column and let go: a
    folder's many small buffers are freed together (memory the next folders reuse), and the
    frame is made from a few large ones, each freed as its column is converted."""

    def __init__(self, *, labelled: bool) -> None:
        self.labelled = labelled
        self.names: list[str] | None = None
        self.counts: list[int] = []
        self.labels: list[str | None] = []
        self.pending: list[pa.Table] = []
        self.rows = 0
        self.batches: list[pa.Table] = []
        self.frames: list[pd.DataFrame] | None = None  # once pandas joins them (see _joined)

    def takes(self, table: pa.Table) -> bool:
        return self.names is None or table.column_names == self.names

    def add(self, table: pa.Table, label: str | None) -> None:
        self.names = table.column_names
        self.counts.append(table.num_rows)
        self.labels.append(label)
        if self.frames is not None:
            self.frames.append(with_night(table_frame(table)))
            return
        self.pending.append(table)
        self.rows += table.num_rows
        if self.rows >= BATCH_ROWS:
            self._batch()

    def _batch(self) -> None:
        joined = _joined(self.pending, combine=True) if self.pending else None
        if joined is None and self.pending:  # a column typed differently: pandas joins them
            self.frames = [with_night(table_frame(t)) for t in (*self.batches, *self.pending)]
            self.batches = []
        elif joined is not None:
            self.batches.append(joined)
        self.pending, self.rows = [], 0

    def frame(self) -> pd.DataFrame:
        self._batch()
        table = None
        if self.frames is None:
            table = _joined(self.batches)
            if table is None:
                self.frames = [with_night(table_frame(t)) for t in self.batches]
            self.batches = []
        if table is not None:
            table = _large_text(table)  # the only reference: each column freed as converted
            frame = with_night(table_frame(table, destroy=True))
            del table
        else:
            frame = concat_frames(self.frames)
            self.frames = []
        if self.labelled:
            frame["source_dir"] = np.repeat(np.array(self.labels, dtype=object), self.counts)
        return frame


def _joined(tables: list[pa.Table], *, combine: bool = False) -> pa.Table | None:
    """Tables of the same columns in one, their frame columns only (`combine`: a chunk per
    column); None if a column's types cannot be joined (int64 in one, double in another). A column
    of nulls only (no failure, no reason) takes the others' type."""
    try:
        table = pa.concat_tables(tables, promote_options="default")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    table = table.drop_columns([k for k in _KEY if k in table.column_names])
    return table.combine_chunks() if combine and len(tables) > 1 else table


def _large_text(table: pa.Table) -> pa.Table:
    """`table` with its text columns as pandas keeps them: large_string, one chunk (indexing
    a column of many chunks is many times slower). Made here a column at a time, each
    column's chunks let go as it is joined; pandas would copy them all at once."""
    for i, field in enumerate(table.schema):
        if pa.types.is_string(field.type):
            # one copy of the text; the cast shares it (only the offsets widen)
            column = table.column(i).combine_chunks().cast(pa.large_string())
            table = table.set_column(i, field.with_type(pa.large_string()), column)
    return table


def cache_path(folder: Path) -> Path:
    return Path(folder) / CACHE_NAME


def folder_frame(folder: Path) -> FolderFrame:
    """The rows of a sweep folder's records, through its cache (see the module's text)."""
    folder = Path(folder)
    scanned_ns = time.time_ns()
    cached, meta = _read_cache(cache_path(folder)) or (None, None)
    if cached is None:  # every file decoded: their names will do (their stamps: as read)
        kept, names = None, record_names(runs_dir(folder))
    else:
        stamps = record_stamps(runs_dir(folder))
        kept = _unchanged(cached, meta["scanned_ns"], stamps)
        names = list(stamps)
    fresh = _decode(folder, [n for n in names if kept is None or n not in kept[1]])
    table = _merged(kept[0], fresh) if kept is not None else None
    if kept is not None and table is None:  # the new rows' columns differ: all read again
        kept = None
        fresh = _decode(folder, names)
    if kept is None:
        cached = None
        table = None if fresh.loose else fresh.table
    changed = cached is None or fresh.table.num_rows or len(kept[1]) != cached.num_rows
    if not changed:  # counted when the cache was written
        counts = meta["fingerprints"]
    else:
        counts = _counts((fresh.table if table is None else table).column("_fingerprint").chunks)
    unwritable = None
    if changed and table is not None and (cached is not None or table.num_rows):
        unwritable = _write(cache_path(folder), table, scanned_ns, counts)
    uncached = None if table is not None else \
        with_night(table_frame(fresh.table.drop_columns(list(_KEY)), fresh.loose))
    return FolderFrame(table=None if table is None else table.drop_columns(list(_KEY)),
                       uncached=uncached,
                       quarantined=tuple(fresh.bad), fingerprints=counts,
                       decoded=len(fresh.names), unwritable=unwritable)


@dataclass(frozen=True, kw_only=True)
class _Fresh:
    """What decoding some record files gave."""

    names: list[str]  # the files decoded
    table: pa.Table  # a row per valid record: its frame columns (but `loose`), then _KEY
    loose: Loose  # frame columns Arrow cannot hold: the rows cannot be cached
    bad: list[Quarantined]


def _decode(folder: Path, names: list[str]) -> _Fresh:
    records, read, stamps, bad = [], [], [], []
    runs = str(runs_dir(folder))
    # records hold no reference cycles: the collector would only walk those decoded so far
    with paused_gc():
        for name in names:
            record, problem, stamp = read_file(os.path.join(runs, name))
            if record is None:
                bad.append(problem)
                continue
            records.append(record)
            read.append(name)
            stamps.append(stamp)
        if not records:  # the same empty table every time (most folders of a cached history)
            return _Fresh(names=names, table=_no_rows(), loose={}, bad=bad)
        table, loose = frame_table(frame_columns(records))
    keys = (pa.array(read, pa.string()), pa.array([s[0] for s in stamps], pa.int64()),
            pa.array([s[1] for s in stamps], pa.int64()), _fingerprints(records))
    for name, column in zip(_KEY, keys, strict=True):
        table = table.append_column(name, column)
    return _Fresh(names=names, table=table, loose=loose, bad=bad)


@functools.cache
def _no_rows() -> pa.Table:
    table, _ = frame_table(frame_columns([]))
    for name, kind in zip(_KEY, _KEY_TYPES, strict=True):
        table = table.append_column(name, pa.array([], kind))
    return table


def _fingerprints(records: list) -> pa.Array:
    """Each record's fingerprint entries that the environment table counts (non-empty
    scalars, as text), a map per record."""
    keys, values, offsets = [], [], [0]
    for record in records:
        for key, value in record.fingerprint.items():
            if type(value) is str:
                if value:
                    keys.append(key)
                    values.append(value)
            elif value is not None and isinstance(value, int | float):  # bool is an int
                keys.append(key)
                values.append(str(value))
        offsets.append(len(keys))
    return pa.MapArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(keys, pa.string()),
                                   pa.array(values, pa.string()))


def _merged(kept: pa.Table, fresh: _Fresh) -> pa.Table | None:
    """The cached rows still valid and the fresh ones, in file-name order; None if they
    cannot share the columns (the fresh ones have a scenario parameter more, a value Arrow
    cannot hold, or an int where the others have a float)."""
    if fresh.loose or kept.column_names != fresh.table.column_names:
        return None if fresh.table.num_rows or fresh.loose else kept
    if not fresh.table.num_rows:
        return kept
    try:
        table = pa.concat_tables([kept, fresh.table], promote_options="default")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    return table.take(pc.sort_indices(table.column("_name")))


def _unchanged(cached: pa.Table, scanned: int, stamps: dict[str, Stamp | None]) \
        -> tuple[pa.Table, set[str]] | None:
    """The cached rows whose file is there, unchanged and not racy, and their names."""
    try:
        names = cached.column("_name").to_pylist()
        sizes = cached.column("_size").to_numpy()
        mtimes = cached.column("_mtime_ns").to_numpy()
    except (KeyError, TypeError, ValueError, pa.ArrowException):
        return None
    trusted = scanned - RACY_NS
    if names == list(stamps) and None not in stamps.values():  # the same files: compared whole
        now = np.array(list(stamps.values()), dtype=np.int64).reshape(-1, 2)
        keep = (now[:, 0] == sizes) & (now[:, 1] == mtimes) & (mtimes < trusted)
    else:
        keep = np.array([stamps.get(n) == (size, mtime) and mtime < trusted
                         for n, size, mtime in zip(names, sizes, mtimes, strict=True)],
                        dtype=bool)
    if keep.all():
        return cached, set(names)
    return cached.filter(keep), set(compress(names, keep))


def _read_cache(path: Path) -> tuple[pa.Table, dict] | None:
    """The cache table and its metadata if it is whole and was made by this code; else None
    (rebuilt)."""
    table = load_table(path)
    if table is None:
        return None
    try:
        meta = json.loads(table.schema.metadata[_META])
        if meta.get("format") != FORMAT or meta.get("stamp") != STAMP or \
                type(meta.get("scanned_ns")) is not int or not _counts_shape(meta):
            return None
        if [table.schema.field(k).type for k in _KEY] != list(_KEY_TYPES):
            return None
        names = table.column("_name")
        if names.null_count or pc.count_distinct(names).as_py() != table.num_rows:
            return None
        described = [c["name"] for c in table.schema.pandas_metadata["columns"]]
        if described + list(_KEY) != table.column_names:  # as _decode makes them
            return None
        return table, meta
    except (KeyError, TypeError, ValueError, pa.ArrowException):
        return None  # foreign: rebuilt


def is_current(folder: Path) -> bool:
    """Whether the folder has a cache made by this code (its header says so; whether it is
    whole and fresh is only known when it is read): for deciding how to read many folders."""
    try:
        with open(cache_path(folder), "rb") as f:
            head = f.read(_HEADER.size)
        magic, _, _, stamp = _HEADER.unpack(head)
    except (OSError, struct.error):
        return False
    return magic == _MAGIC and stamp == bytes.fromhex(STAMP)


def load_table(path: Path) -> pa.Table | None:
    """The table in a cache file if the file is whole (its checksum holds); else None."""
    if not os.path.isfile(path):  # none yet: cheaper to ask than to fail opening it
        return None
    try:
        with pa.OSFile(str(path)) as f:
            data = f.read_buffer()  # in memory Arrow aligned: its columns are read in place
        magic, crc, size, _ = _HEADER.unpack_from(data)
        body = data.slice(_HEADER_SIZE)
        if magic != _MAGIC or size != body.size or zlib.crc32(body) != crc:
            return None
        return pa.ipc.open_file(body).read_all()
    except (OSError, ValueError, struct.error, pa.ArrowException):
        return None  # damaged, truncated or foreign: rebuilt


def save_table(path: Path, table: pa.Table) -> None:
    """Write a cache file atomically (a reader sees the old one or the new one). Not synced
    to disk: one torn by a crash fails its checksum and is rebuilt."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    body = sink.getvalue()
    header = _HEADER.pack(_MAGIC, zlib.crc32(body), body.size,
                          bytes.fromhex(STAMP)).ljust(_HEADER_SIZE, b"\0")
    fd, tmp = temporary_beside(path, f"{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(header)
            f.write(body)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _counts_shape(meta: dict) -> bool:
    counts = meta.get("fingerprints")
    return type(counts) is dict and all(
        type(v) is dict and {int}.issuperset(map(type, v.values())) for v in counts.values())


def _write(path: Path, table: pa.Table, scanned_ns: int, counts: dict) -> str | None:
    """Write the cache; None if done, else why not (a read-only folder: the frame is still
    right, only slower next time). A cache of the earlier format (Parquet) is removed."""
    meta = {**(table.schema.metadata or {}),
            _META: json.dumps({"format": FORMAT, "stamp": STAMP, "scanned_ns": scanned_ns,
                               "fingerprints": counts}).encode()}
    try:
        save_table(path, table.replace_schema_metadata(meta))
    except OSError as e:
        return str(e)
    try:
        (path.parent / _PARQUET_NAME).unlink(missing_ok=True)
    except OSError:
        pass  # only a leftover
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
