"""Schema v1 of the result record: one JSON file per run.

`RunRecord.from_json` is strict (types checked field by field) so the loader
can quarantine a hand-edited or foreign file instead of feeding it to a plot.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field

SCHEMA_VERSION = 1
STATUSES = ("ok", "oom", "failed", "timeout", "cancelled", "node_fail", "missing", "skipped")


class SchemaError(ValueError):
    """A record file does not match the schema; the message says which field."""


@dataclass(frozen=True, kw_only=True)
class RankMetrics:
    """What one rank measured. Ledger bytes are the tensors the rank holds after the last step."""

    rank: int
    hostname: str
    params_bytes: int  # model parameters (this rank's shard under ZeRO-3)
    grads_bytes: int  # gradients (shard under ZeRO-2/3)
    master_params_bytes: int  # fp32 master copy kept by the ZeRO optimizer
    optimizer_state_bytes: int  # optimizer states (Adam m, v; shard under ZeRO-1+)
    peak_host_rss_bytes: int
    peak_device_allocated_bytes: int | None = None  # GPU only
    peak_device_reserved_bytes: int | None = None
    step_time_s: float | None = None  # this rank's median step time


@dataclass(frozen=True, kw_only=True)
class Measurements:
    step_times_s: tuple[float, ...]  # slowest rank per timed step
    step_time_s: float  # median of step_times_s
    step_time_iqr_s: float
    samples_per_s: float  # global, all ranks
    tokens_per_s: float
    final_loss: float


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    schema_version: int = SCHEMA_VERSION
    run_id: str
    attempt: int = 1
    status: str
    sweep: str
    scenario: dict  # Scenario.to_json(): params, settings, repetition
    started_at: str  # ISO 8601, UTC
    finished_at: str
    duration_s: float
    measurements: Measurements | None = None
    ranks: tuple[RankMetrics, ...] = ()
    fingerprint: dict = field(default_factory=dict)  # host, versions, Slurm ids, git commit
    reason: str | None = None  # why it is not ok
    log_tail: str | None = None
    log_path: str | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise SchemaError(f"status {self.status!r} is not one of {STATUSES}")
        if self.status == "ok" and self.measurements is None:
            raise SchemaError("an ok record must hold measurements")

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: object) -> RunRecord:
        if not isinstance(data, dict):
            raise SchemaError("record is not a JSON object")
        if data.get("schema_version") != SCHEMA_VERSION:
            raise SchemaError(f"schema_version {data.get('schema_version')!r}, "
                              f"this memsweep reads {SCHEMA_VERSION}")
        return _build(cls, data, "record")


def _build(cls, data: object, where: str):
    if not isinstance(data, dict):
        raise SchemaError(f"{where}: expected an object")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    if unknown := set(data) - names:
        raise SchemaError(f"{where}: unknown fields {sorted(unknown)}")
    kwargs = {k: _convert(hints[k], v, f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as e:  # a required field is missing
        raise SchemaError(f"{where}: {e}") from None


def _convert(hint, value, where: str):
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        return _convert(next(a for a in args if a is not type(None)), value, where)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise SchemaError(f"{where}: expected a list")
        return tuple(_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    if hint is float and type(value) is int:
        return float(value)
    if not isinstance(value, hint) or (hint is int and type(value) is bool):
        raise SchemaError(f"{where}: expected {hint.__name__}, got {type(value).__name__}")
    return value
