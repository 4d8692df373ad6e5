"""Loading a sweep folder: valid records into a frame, bad files into quarantine.

Schema checks run through converters compiled once per dataclass (the type
hints are read once, not per record); they mirror `schema._convert`. Anything
they do not accept goes through `RunRecord.from_json` itself, so a bad file is
quarantined with the schema's own message and a file is never accepted that
`from_json` would refuse.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import stat
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from results.schema import SCHEMA_VERSION, RunRecord, SchemaError
from results.store import runs_dir


@dataclass(frozen=True, kw_only=True)
class Quarantined:
    path: str
    problem: str


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
    """`(record, None)` or `(None, quarantined)` per `runs/*.json`, in file-name order.

    For callers that keep a summary of each record rather than the record itself.
    """
    for path in _json_files(runs_dir(Path(root))):
        try:
            record = read_record(path)
            if record.run_id != path.name[:-5]:
                raise SchemaError(f"run_id {record.run_id!r} does not match the file name")
            yield record, None
        except (OSError, ValueError) as e:  # JSONDecodeError and SchemaError are ValueErrors
            yield None, Quarantined(path=str(path), problem=str(e)[:300])


def iter_valid_json(root: str | Path) -> Iterator[tuple[dict | None, Quarantined | None]]:
    """As `iter_records`, but yields the checked JSON object of each valid record.

    The object is exactly what `RunRecord.from_json` accepts (it is not converted:
    lists stay lists, an integral float may be an int). `results.frame.row_from_json`
    turns it into a frame row without building the dataclasses: the fast path for
    loading many records.
    """
    folder = runs_dir(Path(root))
    for path in _json_files(folder):
        try:
            data = _json(_read(path))
            if not _valid(data):
                RunRecord.from_json(data)  # raises the schema's own message
            if data["run_id"] != path.name[:-5]:
                raise SchemaError(f"run_id {data['run_id']!r} does not match the file name")
            check_free_form(data["scenario"], data.get("fingerprint", {}))
            yield data, None
        except (OSError, ValueError) as e:
            yield None, Quarantined(path=str(path), problem=str(e)[:300])


def read_record(path: Path) -> RunRecord:
    """The record in the file at `path` if it is a valid one (by the loader's rules, its name
    aside); else OSError or ValueError (SchemaError) saying why. Never blocks on a FIFO."""
    record = parse_record(_read(path))
    check_free_form(record.scenario, record.fingerprint)
    return record


def _read(path: Path) -> bytes:
    """A file's bytes; a FIFO, device or folder named *.json is an OSError (it never blocks)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path.name} is not a regular file")
        with open(fd, "rb", closefd=False) as f:
            return f.read()
    finally:
        os.close(fd)


def _json(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except RecursionError:  # json's C parser on deeply nested arrays or objects
        raise SchemaError("not a record: JSON nested too deeply to read") from None


# The schema leaves `scenario` and `fingerprint` free-form (dict), but the frame and the
# report read these parts blind: a hand-edited value of the wrong type there is quarantined.
_SCALAR = (str, int, float, bool, type(None))
_FRAME_FINGERPRINT = ("hostname", "partition", "torch", "deepspeed", "cpu", "gpu", "git_commit")


def check_free_form(scenario: dict, fingerprint: dict) -> None:
    """Raise SchemaError unless `scenario` has Scenario.to_json's shape (params with the model's
    name, settings, repetition; values JSON scalars) and the fingerprint entries that become
    frame columns are text or null."""
    params, settings = scenario.get("params"), scenario.get("settings", {})
    if type(params) is not dict or type(params.get("model")) is not str:
        raise SchemaError("record.scenario.params: expected an object naming the model")
    for where, values in (("params", params), ("settings", settings)):
        if type(values) is not dict or any(type(v) not in _SCALAR for v in values.values()):
            raise SchemaError(f"record.scenario.{where}: expected an object of numbers, text, "
                              "true/false or null")
    if type(scenario.get("repetition", 0)) is not int:
        raise SchemaError("record.scenario.repetition: expected int")
    for key in _FRAME_FINGERPRINT:
        if type(fingerprint.get(key)) not in (str, type(None)):
            raise SchemaError(f"record.fingerprint.{key}: expected text or null")


def _json_files(folder: Path) -> list[Path]:
    """`folder/*.json` in name order (as `Path.glob`: hidden names too); none if no folder."""
    try:
        names = sorted(e.name for e in os.scandir(folder) if e.name.endswith(".json"))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [folder / name for name in names]


def _valid(data: object) -> bool:
    return (type(data) is dict and type(data.get("schema_version")) is int
            and data["schema_version"] == SCHEMA_VERSION and _checker(RunRecord)(data))


def parse_record(raw: bytes) -> RunRecord:
    """The RunRecord of a file's bytes; raises ValueError (SchemaError) as `from_json` does."""
    data = _json(raw)
    try:
        if type(data) is not dict or type(data.get("schema_version")) is not int \
                or data["schema_version"] != SCHEMA_VERSION:
            raise _Slow
        return _converter(RunRecord)(data)
    except _Slow:
        return RunRecord.from_json(data)  # raises the schema's own message


class _Slow(Exception):
    """The fast path is not sure: let `RunRecord.from_json` decide."""


@functools.cache
def _converter(hint) -> Callable[[object], object]:
    """A function that checks and converts a JSON value to `hint`, as `schema._convert` does."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = _converter(next(a for a in args if a is not type(None)))
        nullable = type(None) in args
        return lambda v: None if v is None and nullable else inner(v)
    if dataclasses.is_dataclass(hint):
        return _dataclass_converter(hint)
    if origin is tuple:
        item = _converter(args[0])

        def to_tuple(v):
            if type(v) is not list:
                raise _Slow
            return tuple(map(item, v))
        return to_tuple
    if hint is float:
        def to_float(v):
            if type(v) is float:
                return v
            if type(v) is int:
                return float(v)
            raise _Slow
        return to_float

    def exact(v):  # JSON gives exactly these types; a subclass (bool for int) goes slow
        if type(v) is not hint:
            raise _Slow
        return v
    return exact


def _dataclass_converter(cls) -> Callable[[object], object]:
    hints = typing.get_type_hints(cls)
    fields = {f.name: _converter(hints[f.name]) for f in dataclasses.fields(cls)}
    required = {f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}

    def build(v):
        if type(v) is not dict or not required.issubset(v) or not fields.keys() >= v.keys():
            raise _Slow
        return cls(**{k: fields[k](x) for k, x in v.items()})
    return build


@functools.cache
def _checker(hint) -> Callable[[object], bool]:
    """A predicate: would `schema._convert(hint, value)` accept the JSON value?

    False means "not sure" too: the caller then asks `RunRecord.from_json`.
    """
    allowed, deep = _shape(hint)
    if deep is None:
        return lambda v: type(v) in allowed
    return lambda v: type(v) in allowed and (v is None or deep(v))


@functools.cache
def _shape(hint) -> tuple[frozenset, Callable[[object], bool] | None]:
    """(the JSON types a value of `hint` may have, a check of what is inside it or None)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        allowed, deep = _shape(next(a for a in args if a is not type(None)))
        return (allowed | {type(None)} if type(None) in args else allowed), deep
    if dataclasses.is_dataclass(hint):
        return frozenset({dict}), _dataclass_checker(hint)
    if origin is tuple:
        items, deep = _shape(args[0])
        if deep is None:
            return frozenset({list}), lambda v: set(map(type, v)) <= items
        return frozenset({list}), lambda v: all(type(i) in items and deep(i) for i in v)
    return (frozenset({float, int}) if hint is float else frozenset({hint})), None


_UNSEEN = object()


def _dataclass_checker(cls) -> Callable[[object], bool]:
    """Checks an object's keys and value types at once, remembering each (keys, types) shape
    it has judged: a record's many rank objects cost a lookup each, not a walk."""
    hints = typing.get_type_hints(cls)
    shapes = {f.name: _shape(hints[f.name]) for f in dataclasses.fields(cls)}
    defaults = {f.name: f.default for f in dataclasses.fields(cls)
                if f.default is not dataclasses.MISSING}
    required = {f.name for f in dataclasses.fields(cls) if f.name not in defaults
                and f.default_factory is dataclasses.MISSING}
    post_init = getattr(cls, "__post_init__", None)
    judged: dict[tuple, tuple | None] = {}

    def judge(keys: tuple, kinds: tuple) -> tuple | None:
        """None if the shape is wrong, else the fields whose contents need a look."""
        if not required.issubset(keys) or not shapes.keys() >= set(keys):
            return None
        if any(kind not in shapes[key][0] for key, kind in zip(keys, kinds, strict=True)):
            return None
        return tuple(key for key, kind in zip(keys, kinds, strict=True)
                     if shapes[key][1] is not None and kind is not type(None))

    def check(v) -> bool:
        if type(v) is not dict:
            return False
        shape = (tuple(v), tuple(map(type, v.values())))
        deeper = judged.get(shape, _UNSEEN)
        if deeper is _UNSEEN:
            deeper = judge(*shape)
            if len(judged) < 4096:
                judged[shape] = deeper
        if deeper is None:
            return False
        for key in deeper:
            if not shapes[key][1](v[key]):
                return False
        if post_init is not None:  # the class's own checks, on the raw values
            try:
                post_init(types.SimpleNamespace(**{**defaults, **v}))
            except Exception:  # noqa: BLE001 - not sure: from_json decides
                return False
        return True
    return check
