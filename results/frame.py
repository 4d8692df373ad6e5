"""The tidy frame: one row per run record (the last attempt of each run).

Per-rank figures are the maximum over the run's ranks: the rank that limits
the job. `memsweep collect` writes this frame plus a `source_dir` column (the
sweep folder the record was read from).

| column | type | meaning |
|---|---|---|
| run_id | str | stable id of the run: hash of sweep, scenario parameters, settings, repetition |
| scenario_id | str | the run_id of the scenario's repetition 0: shared by its repetitions |
| attempt | int | how many times the run was started (the last attempt's record is kept) |
| status | str | ok, oom, failed, timeout, cancelled, node_fail, missing or skipped |
| sweep | str | name of the sweep file's `[sweep]` table |
| repetition | int | repetition index of the scenario (0-based) |
| *each axis* | its type | a column per axis of suite/axes.py, in order: workload, strategies |
| n_params | Int64 | exact parameter count of the model (catalogue size or spelled-out dimensions) |
| started_at | datetime (UTC) | when the run started |
| night | str | the UTC date the run started, YYYY-MM-DD: which nightly run it belongs to |
| finished_at | datetime (UTC) | when the run ended |
| duration_s | float | wall time of the run, launch to record |
| reason | str | why the run is not ok (empty when ok) |
| log_tail | str | last lines of the ranks' output (failures only) |
| log_path | str | the run's full log file |
| hostname | str | host of the run (fingerprint) |
| partition | str | Slurm partition (empty outside Slurm) |
| torch_version | str | torch version of the run |
| deepspeed_version | str | DeepSpeed version of the run |
| cpu_model | str | CPU model of the run's host |
| gpu_model | str | GPU model (empty on CPU runs) |
| git_commit | str | memsweep commit the run used (empty outside a git checkout) |
| n_ranks | int | ranks that reported metrics |
| step_time_s | float | median optimizer-step time of the slowest rank over the timed steps |
| step_time_iqr_s | float | interquartile range of those step times |
| timed_steps | Int64 | how many timed steps the step time is the median of |
| samples_per_s | float | global throughput, all ranks |
| tokens_per_s | float | samples_per_s x seq_len |
| final_loss | float | training loss at the last timed step |
| load_average | float | the host's 1-minute load average just after the timed steps |
| cpus | Int64 | CPUs the run's processes may use (a load above them: the CPUs were shared) |
| params_bytes | Int64 | bytes of model parameters held by a rank (its shard under ZeRO-3) |
| grads_bytes | Int64 | bytes of gradients held by a rank (shard under ZeRO-2/3) |
| master_params_bytes | Int64 | bytes of the fp32 master copy held by the ZeRO optimizer on a rank |
| optimizer_state_bytes | Int64 | bytes of optimizer states held by a rank (shard under ZeRO-1+) |
| peak_host_rss_bytes | Int64 | peak resident host memory of a rank |
| peak_device_bytes | Int64 | peak device memory allocated by a rank (GPU only; empty on CPU) |
| peak_device_allocated_bytes | Int64 | same as peak_device_bytes (kept for earlier readers) |
| peak_device_reserved_bytes | Int64 | peak device memory reserved by a rank's allocator (GPU) |
| tensor_peak_bytes | Int64 | peak of live tensor bytes in the probe step (jobs/peak_probe.py) |
| predicted_peak_bytes | Int64 | analytical peak of tensor bytes (suite/peak_model.py), rank max |
| tensor_peak_ratio | float | measured / predicted tensor peak, the rank farthest from 1 |
| oom_phase | str | the phase an `oom` run ran out of memory in (empty otherwise) |
| oom_kind | str | device, host or killed |
| oom_requested_bytes | Int64 | the allocation that failed, from the error message |
| oom_allocation | str | what that allocation was where the configuration sized it (bucket) |
| *peaks, FLOP/s* | | results/frame_peaks.py's columns: both peaks' breakdowns, peaks per phase, |
| | | activations, TFLOP/s, MFU, step-time CV, `stable`, the OOM's rank and bytes |

Every value above is empty (NA) where the record does not hold it, e.g. the
measurements of a failed run, or an axis a record older than the axis does not
name (the analysis reads that as the axis default). A scenario parameter the
catalogue does not know appears as one more column named after it.
"""

from __future__ import annotations

import functools
import hashlib
import json
from operator import attrgetter

import numpy as np
import pandas as pd
import pyarrow as pa

from results import frame_peaks
from results.per_run import most, owners
from results.schema import RunRecord
from suite.axes import AXES
from suite.errors import MemsweepError
from suite.models import MODELS, decode
from suite.scenario import RunSettings, Scenario

# Per-rank figures reported as the maximum over ranks (the rank that limits the job).
_MAX_OVER_RANKS = ("params_bytes", "grads_bytes", "master_params_bytes", "optimizer_state_bytes",
                   "peak_host_rss_bytes", "peak_device_allocated_bytes",
                   "peak_device_reserved_bytes", "tensor_peak_bytes")
_FLOATS = ("duration_s", "step_time_s", "step_time_iqr_s", "samples_per_s", "tokens_per_s",
           "final_loss", "load_average", "tensor_peak_ratio", *frame_peaks.FLOATS)
_INTS = ("n_params", "timed_steps", "cpus", "peak_device_bytes", *_MAX_OVER_RANKS,
         "predicted_peak_bytes", "oom_requested_bytes", *frame_peaks.INTS)
_OOM = {"oom_phase": "phase", "oom_kind": "kind", "oom_requested_bytes": "requested_bytes",
        "oom_allocation": "allocation"}
_MEASURED = ("step_time_s", "step_time_iqr_s", "samples_per_s", "tokens_per_s", "final_loss",
             "load_average", "cpus")
_FINGERPRINT = {"hostname": "hostname", "partition": "partition", "torch_version": "torch",
                "deepspeed_version": "deepspeed", "cpu_model": "cpu", "gpu_model": "gpu",
                "git_commit": "git_commit"}

COLUMNS: tuple[str, ...] = (
    "run_id", "scenario_id", "attempt", "status", "sweep", "repetition", *AXES, "n_params",
    "started_at", "night", "finished_at", "duration_s", "reason", "log_tail", "log_path",
    "hostname", "partition", "torch_version", "deepspeed_version", "cpu_model", "gpu_model",
    "git_commit", "n_ranks",
    "step_time_s", "step_time_iqr_s", "timed_steps", "samples_per_s", "tokens_per_s",
    "final_loss", "load_average", "cpus",
    "params_bytes", "grads_bytes", "master_params_bytes", "optimizer_state_bytes",
    "peak_host_rss_bytes", "peak_device_bytes", "peak_device_allocated_bytes",
    "peak_device_reserved_bytes", "tensor_peak_bytes", "predicted_peak_bytes",
    "tensor_peak_ratio", *_OOM, *frame_peaks.COLUMNS,
)


def frame_columns(records: list[RunRecord]) -> dict[str, list | pa.Array]:
    """The frame's columns of `records`, a list or Arrow array each: `COLUMNS` in order
    (`night` aside, which `with_night` derives), then any scenario parameter the catalogue
    does not know. Built a column at a time: one pass over the records per column, the
    per-rank maxima taken by numpy (results/per_run.py)."""
    n = len(records)
    scenarios = [r.scenario for r in records]
    params = [s.get("params", {}) for s in scenarios]
    fps = [r.fingerprint for r in records]
    ms = [r.measurements for r in records]
    ranks = [k for r in records for k in r.ranks]
    owner = owners([len(r.ranks) for r in records])
    col: dict[str, list | pa.Array] = {
        "run_id": [r.run_id for r in records],
        "scenario_id": [scenario_id(r.sweep, s) for r, s in zip(records, scenarios, strict=True)],
        "attempt": [r.attempt for r in records], "status": [r.status for r in records],
        "sweep": [r.sweep for r in records],
        "repetition": [s.get("repetition") for s in scenarios]}
    for axis in AXES:
        col[axis] = [p.get(axis) for p in params]
    col["n_params"] = [n_params(p.get("model")) for p in params]
    for name in ("started_at", "finished_at", "duration_s", "reason", "log_tail", "log_path"):
        col[name] = list(map(attrgetter(name), records))
    for name, key in _FINGERPRINT.items():
        col[name] = [fp.get(key) for fp in fps]
    col["n_ranks"] = [len(r.ranks) for r in records]
    for name in _MEASURED:
        col[name] = [m and getattr(m, name) for m in ms]
    col["timed_steps"] = [m and len(m.step_times_s) for m in ms]
    # every rank's figures gathered in one pass, as rows Arrow turns into columns
    per_rank = pa.array(list(map(attrgetter(*_MAX_OVER_RANKS), ranks)), _RANK_FIGURES)
    for name, values in zip(_MAX_OVER_RANKS, per_rank.flatten(), strict=True):
        col[name] = most(owner, values, n)
    col["peak_device_bytes"] = col["peak_device_allocated_bytes"]
    col["predicted_peak_bytes"] = most(owner, [k.predicted and k.predicted.peak_bytes
                                               for k in ranks], n)
    col["tensor_peak_ratio"] = [_ratio(r.ranks) for r in records]
    ooms = [r.oom for r in records]
    for name, key in _OOM.items():
        col[name] = [o and getattr(o, key) for o in ooms]
    col.update(frame_peaks.peak_columns(records, ranks, owner))
    extra = dict.fromkeys(k for p in params for k in p if k not in _KNOWN)
    return {**{c: col[c] for c in COLUMNS if c != "night"},
            **{k: [p.get(k) for p in params] for k in extra}}


_KNOWN = frozenset(COLUMNS)
_RANK_FIGURES = pa.struct([(name, pa.int64()) for name in _MAX_OVER_RANKS])


def _ratio(ranks: tuple) -> float | None:
    """Measured / predicted tensor peak of the rank farthest from 1."""
    ratios = [k.tensor_peak_bytes / k.predicted.peak_bytes for k in ranks
              if k.tensor_peak_bytes is not None and k.predicted is not None
              and k.predicted.peak_bytes]
    return max(ratios, key=lambda x: abs(x - 1)) if ratios else None


_N_PARAMS: dict[str, int | None] = {}


def n_params(model: object) -> int | None:
    """The exact parameter count of a model value (catalogue name or spelled-out dimensions),
    None if it names neither; counted once per value (a sum over every matrix)."""
    if not isinstance(model, str):
        return None
    try:
        return _N_PARAMS[model]
    except KeyError:
        pass
    spec = MODELS.get(model) or decode(model)
    found = spec.n_params if spec else None
    if len(_N_PARAMS) < 100_000:
        _N_PARAMS[model] = found
    return found


_SCENARIO_IDS: dict[tuple, str] = {}


def scenario_id(sweep: str, scenario: dict) -> str:
    """The run_id of repetition 0 of the record's scenario (Scenario.run_id's own recipe, axes
    the record does not name at their defaults); a hash of the same if the catalogue refuses
    the scenario (an axis value it no longer knows)."""
    params, settings = scenario.get("params", {}), scenario.get("settings", {})
    key = (sweep, *params.items(), None, *settings.items())
    try:
        return _SCENARIO_IDS[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable value in a hand-written record
        key = None
    try:
        found = Scenario.from_values(sweep=sweep, values=params,
                                     settings=RunSettings(**settings)).run_id
    except (MemsweepError, TypeError, ValueError):
        blob = json.dumps({"sweep": sweep, "params": params, "settings": settings},
                          sort_keys=True, separators=(",", ":"), default=str)
        found = hashlib.sha256(blob.encode()).hexdigest()[:16]
    if key is not None and len(_SCENARIO_IDS) < 1_000_000:
        _SCENARIO_IDS[key] = found
    return found


def records_frame(records: list[RunRecord]) -> pd.DataFrame:
    """The frame of `records`, columns in `COLUMNS` order (then any extra scenario axes)."""
    table, loose = frame_table(frame_columns(records))
    return with_night(table_frame(table, loose))


Loose = dict[str, tuple[int, list]]  # columns Arrow cannot hold: name -> (position, values)


def frame_table(columns: dict[str, list | pa.Array]) -> tuple[pa.Table, Loose]:
    """`frame_columns` as an Arrow table typed as the frame (`table_frame` makes it one),
    and the columns Arrow cannot hold, as they are: values of several types in one column
    (a hand-written scenario parameter), which only pandas' object columns can."""
    arrays, loose = {}, {}
    for i, (name, values) in enumerate(columns.items()):
        try:
            arrays[name] = _arrow(name, values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            if name in _TYPED:
                raise
            loose[name] = (i, values)
    table = pa.table(arrays) if arrays else pa.table({})
    return table.replace_schema_metadata(_pandas_metadata(tuple(arrays))), loose


def table_frame(table: pa.Table, loose: Loose | None = None, *,
                destroy: bool = False) -> pd.DataFrame:
    """The frame (but `night`) of a `frame_table` table, or of several concatenated: Int64
    and boolean columns as the metadata says, the others as pandas infers a list of their
    values (int64; float64 where an int has a gap; text as str; mixed as object). `loose`
    columns are put back in their places; `destroy`: the table's columns are let go as they
    are converted (nothing else may hold them)."""
    frame = table.to_pandas(self_destruct=destroy, split_blocks=destroy)
    for name, (i, values) in (loose or {}).items():
        frame.insert(i, name, pd.Series(values, index=frame.index, dtype=object))
    return frame


def _arrow(name: str, values: list | pa.Array) -> pa.Array:
    if isinstance(values, pa.Array):
        return values
    if name in _FLOATS:
        return pa.array(values, pa.float64())
    if name in _INTS:
        return pa.array(values, pa.int64())
    if name in frame_peaks.BOOLEANS:
        return pa.array(values, pa.bool_())
    if name in _TIMES:
        return pa.array(pd.to_datetime(pd.Series(values, dtype="object"), utc=True,
                                       errors="coerce", format="ISO8601"))
    return pa.array(values)


_TIMES = ("started_at", "finished_at")
_TYPED = frozenset((*_FLOATS, *_INTS, *frame_peaks.BOOLEANS, *_TIMES))


@functools.lru_cache(maxsize=64)
def _pandas_metadata(names: tuple[str, ...]) -> dict[bytes, bytes]:
    """The pandas metadata that makes `to_pandas` give the Int64 and boolean columns their
    types (Arrow's own types say the rest): pyarrow's own entry for a column of each kind,
    named for each column (a frame of 115 empty columns would cost 0.1 s per process)."""
    kinds = {**dict.fromkeys(_INTS, "Int64"), **dict.fromkeys(frame_peaks.BOOLEANS, "boolean")}
    meta = dict(_metadata_of_kinds())  # a copy: the cached one names the kinds, not these
    entries = {e["name"]: e for e in meta["columns"]}
    meta["columns"] = [{**entries[kinds.get(name, "object")], "name": name, "field_name": name}
                       for name in names]
    return {b"pandas": json.dumps(meta).encode()}


@functools.cache
def _metadata_of_kinds() -> dict:
    proto = pd.DataFrame({kind: pd.Series(dtype=kind) for kind in ("Int64", "boolean", "object")})
    return json.loads(pa.Schema.from_pandas(proto, preserve_index=False).metadata[b"pandas"])


def with_night(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` (records_frame's columns but `night`) with its `night` column, in place."""
    # a history has few nights: each day formatted once, not once per row
    codes, days = pd.factorize(frame["started_at"].dt.floor("D"))
    names = np.array([*days.strftime("%Y-%m-%d"), np.nan], dtype=object)
    frame.insert(COLUMNS.index("night"), "night", names[codes])
    return frame


def _typed(name: str, values: list):
    if name in _FLOATS:
        return np.array(values, dtype="float64")  # None -> NaN
    if name in _INTS:  # through Arrow: a column of None (no such figure) costs nothing
        ints = pa.array(values, pa.int64())
        return pd.arrays.IntegerArray(ints.fill_null(0).to_numpy(),
                                      ints.is_null().to_numpy(zero_copy_only=False))
    if name in frame_peaks.BOOLEANS:
        return pd.array(values, dtype="boolean")
    if name in ("started_at", "finished_at"):
        return pd.to_datetime(pd.Series(values, dtype="object"), utc=True, errors="coerce",
                              format="ISO8601")
    return values  # inferred: text as str, int64 for counts and int axes, float64 with gaps


def concat_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The rows of frames made by `records_frame`, in order, in one frame typed as it
    types all their rows: a column inferred differently in two parts (an int axis with a gap
    in one of them) is inferred again over all of its values."""
    parts = [f for f in frames if len(f)] or frames[:1]
    if len(parts) == 1:
        return parts[0].reset_index(drop=True)
    out = pd.concat(parts, ignore_index=True)
    for name in out.columns:
        if len({f[name].dtype if name in f else None for f in parts}) > 1:
            values = [v for f in parts for v in (f[name].astype(object).tolist() if name in f
                                                 else [None] * len(f))]
            out[name] = pd.Series(_typed(name, values), index=out.index)
    return out
