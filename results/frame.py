"""The tidy frame: one row per run record (the last attempt of each run).

Per-rank figures are the maximum over the run's ranks: the rank that limits
the job. `memsweep collect` writes this frame plus a `source_dir` column.

| column | type | meaning |
|---|---|---|
| run_id | str | stable id of the run: hash of sweep, scenario parameters, settings, repetition |
| attempt | int | how many times the run was started (the last attempt's record is kept) |
| status | str | ok, oom, failed, timeout, cancelled, node_fail, missing or skipped |
| sweep | str | name of the sweep file's `[sweep]` table |
| repetition | int | repetition index of the scenario (0-based) |
| model | str | model size from the catalogue (`memsweep models`) |
| world_size | int | data-parallel ranks (MPI processes) |
| zero_stage | int | DeepSpeed ZeRO stage 0-3 |
| offload_optimizer | str | ZeRO-Offload target of the optimizer states: none or cpu |
| precision | str | fp32, bf16 or fp16 |
| optimizer | str | adamw or sgd |
| micro_batch | int | sequences per rank per micro-step |
| seq_len | int | tokens per sequence |
| grad_accum | int | micro-steps per optimizer step |
| device | str | where the ranks compute: cpu or cuda |
| n_params | Int64 | exact parameter count of the model (empty for a size not in this catalogue) |
| started_at | datetime (UTC) | when the run started |
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

Every value above is empty (NA) where the record does not hold it, e.g. the
measurements of a failed run. A scenario parameter that a newer catalogue adds
appears as one more column named after its axis.
"""

from __future__ import annotations

import pandas as pd

from results.schema import RunRecord
from suite.axes import AXES
from suite.models import MODELS

# Per-rank figures reported as the maximum over ranks (the rank that limits the job).
_MAX_OVER_RANKS = ("params_bytes", "grads_bytes", "master_params_bytes", "optimizer_state_bytes",
                   "peak_host_rss_bytes", "peak_device_allocated_bytes",
                   "peak_device_reserved_bytes")
_FLOATS = ("duration_s", "step_time_s", "step_time_iqr_s", "samples_per_s", "tokens_per_s",
           "final_loss")
_INTS = ("n_params", "peak_device_bytes", *_MAX_OVER_RANKS)

COLUMNS: tuple[str, ...] = (
    "run_id", "attempt", "status", "sweep", "repetition", *AXES, "n_params",
    "started_at", "finished_at", "duration_s", "reason", "log_tail", "log_path",
    "hostname", "partition", "torch_version", "deepspeed_version", "cpu_model", "gpu_model",
    "git_commit", "n_ranks",
    "step_time_s", "step_time_iqr_s", "samples_per_s", "tokens_per_s", "final_loss",
    "params_bytes", "grads_bytes", "master_params_bytes", "optimizer_state_bytes",
    "peak_host_rss_bytes", "peak_device_bytes", "peak_device_allocated_bytes",
    "peak_device_reserved_bytes",
)


def record_row(r: RunRecord) -> dict:
    params = r.scenario.get("params", {})
    spec = MODELS.get(params.get("model"))
    row = {
        "run_id": r.run_id, "attempt": r.attempt, "status": r.status, "sweep": r.sweep,
        "repetition": r.scenario.get("repetition"), **params,
        "n_params": spec.n_params if spec else None,
        "started_at": r.started_at, "finished_at": r.finished_at,
        "duration_s": r.duration_s, "reason": r.reason, "log_tail": r.log_tail,
        "log_path": r.log_path, "hostname": r.fingerprint.get("hostname"),
        "partition": r.fingerprint.get("partition"),
        "torch_version": r.fingerprint.get("torch"),
        "deepspeed_version": r.fingerprint.get("deepspeed"),
        "cpu_model": r.fingerprint.get("cpu"), "gpu_model": r.fingerprint.get("gpu"),
        "git_commit": r.fingerprint.get("git_commit"),
        "n_ranks": len(r.ranks),
    }
    m = r.measurements
    row.update(step_time_s=m and m.step_time_s, step_time_iqr_s=m and m.step_time_iqr_s,
               samples_per_s=m and m.samples_per_s, tokens_per_s=m and m.tokens_per_s,
               final_loss=m and m.final_loss)
    for col in _MAX_OVER_RANKS:
        vals = [getattr(k, col) for k in r.ranks if getattr(k, col) is not None]
        row[col] = max(vals) if vals else None
    row["peak_device_bytes"] = row["peak_device_allocated_bytes"]
    return row


def records_frame(records: list[RunRecord]) -> pd.DataFrame:
    """The frame of `records`, columns in `COLUMNS` order (then any extra scenario axes)."""
    rows = [record_row(r) for r in records]
    extra = [c for c in dict.fromkeys(k for row in rows for k in row) if c not in COLUMNS]
    frame = pd.DataFrame(rows, columns=[*COLUMNS, *extra])
    for col in _FLOATS:
        frame[col] = frame[col].astype("float64")
    for col in _INTS:
        frame[col] = frame[col].astype("Int64")
    for col in ("started_at", "finished_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True, errors="coerce", format="ISO8601")
    return frame
