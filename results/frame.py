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

import hashlib
import json

import numpy as np
import pandas as pd
import pyarrow as pa

from results import frame_peaks
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
           "final_loss", "tensor_peak_ratio", *frame_peaks.FLOATS)
_INTS = ("n_params", "timed_steps", "peak_device_bytes", *_MAX_OVER_RANKS,
         "predicted_peak_bytes", "oom_requested_bytes", *frame_peaks.INTS)
_OOM = {"oom_phase": "phase", "oom_kind": "kind", "oom_requested_bytes": "requested_bytes",
        "oom_allocation": "allocation"}
_MEASURED = ("step_time_s", "step_time_iqr_s", "samples_per_s", "tokens_per_s", "final_loss")
_FINGERPRINT = {"hostname": "hostname", "partition": "partition", "torch_version": "torch",
                "deepspeed_version": "deepspeed", "cpu_model": "cpu", "gpu_model": "gpu",
                "git_commit": "git_commit"}

COLUMNS: tuple[str, ...] = (
    "run_id", "scenario_id", "attempt", "status", "sweep", "repetition", *AXES, "n_params",
    "started_at", "night", "finished_at", "duration_s", "reason", "log_tail", "log_path",
    "hostname", "partition", "torch_version", "deepspeed_version", "cpu_model", "gpu_model",
    "git_commit", "n_ranks",
    "step_time_s", "step_time_iqr_s", "timed_steps", "samples_per_s", "tokens_per_s",
    "final_loss",
    "params_bytes", "grads_bytes", "master_params_bytes", "optimizer_state_bytes",
    "peak_host_rss_bytes", "peak_device_bytes", "peak_device_allocated_bytes",
    "peak_device_reserved_bytes", "tensor_peak_bytes", "predicted_peak_bytes",
    "tensor_peak_ratio", *_OOM, *frame_peaks.COLUMNS,
)


def record_row(r: RunRecord) -> dict:
    """The frame row of a record: its columns in `COLUMNS` order (`night` aside, which
    `rows_frame` derives), then any scenario parameter the catalogue does not know."""
    scenario = r.scenario
    params = scenario.get("params", {})
    fp = r.fingerprint
    row = {
        "run_id": r.run_id, "scenario_id": scenario_id(r.sweep, scenario),
        "attempt": r.attempt, "status": r.status, "sweep": r.sweep,
        "repetition": scenario.get("repetition"), **params,
        "n_params": n_params(params.get("model")),
        "started_at": r.started_at, "finished_at": r.finished_at,
        "duration_s": r.duration_s, "reason": r.reason, "log_tail": r.log_tail,
        "log_path": r.log_path,
        **{col: fp.get(key) for col, key in _FINGERPRINT.items()},
    }
    ranks = r.ranks
    row["n_ranks"] = len(ranks)
    m = r.measurements
    for col in _MEASURED:
        row[col] = getattr(m, col) if m else None
    row["timed_steps"] = len(m.step_times_s) if m else None
    for col in _MAX_OVER_RANKS:
        vals = [v for k in ranks if (v := getattr(k, col)) is not None]
        row[col] = max(vals) if vals else None
    row["peak_device_bytes"] = row["peak_device_allocated_bytes"]
    predicted = [k.predicted.peak_bytes for k in ranks
                 if k.predicted is not None and k.predicted.peak_bytes is not None]
    row["predicted_peak_bytes"] = max(predicted) if predicted else None
    ratios = [k.tensor_peak_bytes / k.predicted.peak_bytes for k in ranks
              if k.tensor_peak_bytes is not None and k.predicted is not None
              and k.predicted.peak_bytes]
    row["tensor_peak_ratio"] = max(ratios, key=lambda x: abs(x - 1)) if ratios else None
    for col, key in _OOM.items():
        row[col] = getattr(r.oom, key) if r.oom is not None else None
    row.update(frame_peaks.peak_columns(r))
    return row


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
    return rows_frame([record_row(r) for r in records])


def rows_frame(rows: list[dict]) -> pd.DataFrame:
    """The frame of rows made by `record_row`, typed as documented."""
    return with_night(bare_frame(rows))


def bare_frame(rows: list[dict]) -> pd.DataFrame:
    """rows_frame but its `night` column (what the frame cache keeps: night is derived).

    Built column by column (a list per column, then one typed array each): several times
    faster than a frame of dicts when there are many rows. Text columns are Python objects.
    """
    shapes = dict.fromkeys(tuple(row) for row in rows)  # usually one: every record's keys
    names = [*(c for c in COLUMNS if c != "night"),
             *(c for c in dict.fromkeys(k for shape in shapes for k in shape) if c not in COLUMNS)]
    if len(shapes) == 1 and set(next(iter(shapes))) == set(names):
        order = list(next(iter(shapes)))
        columns = dict(zip(order, map(list, zip(*(row.values() for row in rows), strict=True)),
                           strict=True)) if rows else {c: [] for c in order}
    else:  # rows of different catalogues: look each column up
        columns = {c: [row.get(c) for row in rows] for c in names}
    return pd.DataFrame({c: _typed(c, columns[c]) for c in names}, index=pd.RangeIndex(len(rows)))


def with_night(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` (rows_frame's columns but `night`) with its `night` column, in place."""
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
    """The rows of frames made by `rows_frame`, in order, in one frame typed as `rows_frame`
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
