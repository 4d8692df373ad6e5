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
class PhasePeak:
    """Memory of one phase of a rank's run: its peak, and what was in use when it began.

    Phases: init (model and engine), warmup, timed, then forward / backward / step of one
    untimed probe step. Peaks are reset at each phase's start (VmHWM through
    /proc/self/clear_refs, torch.cuda.reset_peak_memory_stats).
    """

    phase: str
    host_rss_bytes: int  # peak RSS during the phase
    host_rss_start_bytes: int
    host_reset: bool = True  # False: the kernel refused the reset, the peak includes earlier
    device_allocated_bytes: int | None = None  # GPU only
    device_reserved_bytes: int | None = None
    device_allocated_start_bytes: int | None = None
    # Live tensor bytes (jobs/live_tensors.py): the peak on the compute device, what was live
    # when the phase began, and the breakdown at the peak (jobs/peak_probe.py's categories).
    # None for the timed phase (the tracker stays out of the timed steps) and older records.
    tensor_peak_bytes: int | None = None
    tensor_start_bytes: int | None = None
    tensor_breakdown: dict | None = None
    host_tensor_peak_bytes: int | None = None  # GPU runs: the peak of host (CPU) tensors


@dataclass(frozen=True, kw_only=True)
class PredictedMemory:
    """The analytical model's bytes for this rank (suite/memory_model.py) and measured/predicted."""

    model: str  # "deepspeed" (DeepSpeed 0.19.8's layout, padding included) or "paper"
    params_bytes: int
    grads_bytes: int
    master_params_bytes: int
    optimizer_state_bytes: int
    activation_bytes: int  # Korthikanti et al.
    # DeepSpeed's scratch the ledger does not count: reduce buckets, offload staging (not
    # RankMetrics.buffer_bytes, the model's own buffers)
    buffer_bytes: int = 0
    host_bytes: int = 0  # of the above, what offload keeps in host memory
    device_bytes: int = 0  # what must fit in the compute device's memory
    # measured / predicted per ledger field, and for activation_bytes and
    # activation_peak_bytes (both against activation_bytes here); 1.0 where both are 0, None
    # where only the prediction is 0 or nothing was measured.
    ratios: dict = field(default_factory=dict)
    # The analytical peak (suite/peak_model.py): the step's peak of tensor bytes on the compute
    # device, its phase, the peak per phase, the breakdown at the peak, the activations as
    # derived from the model's operations; ratios["tensor_peak_bytes"] is measured/predicted.
    peak_bytes: int | None = None
    peak_phase: str | None = None
    phase_peak_bytes: dict | None = None
    peak_breakdown: dict | None = None
    ops_activation_bytes: int | None = None


@dataclass(frozen=True, kw_only=True)
class OomInfo:
    """Where a run ran out of memory (status `oom`)."""

    rank: int
    phase: str | None  # the phase it was in (PhasePeak.phase names), None if before any
    kind: str  # "device" (CUDA out of memory), "host" (allocation refused), "killed" (kernel)
    reached_bytes: int | None = None  # CUDA max allocated / the capped VmData at the failure
    limit_bytes: int | None = None  # the GPU's memory / the scenario's host_mem_cap
    requested_bytes: int | None = None  # the allocation that failed, from the error message
    peak_host_rss_bytes: int | None = None


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
    phases: tuple[PhasePeak, ...] = ()
    # Most memory above the forward's start during the probe step's forward pass: the
    # activations kept for backward plus the forward's working memory.
    activation_peak_bytes: int | None = None
    predicted: PredictedMemory | None = None
    # What the strategies report (suite/strategies/); None where a run has none of it.
    activation_bytes: int | None = None  # autograd's saved tensors of one forward (torch's count)
    buffer_bytes: int | None = None  # model buffers, e.g. pruning masks (not parameters)
    teacher_params_bytes: int | None = None  # distillation: the frozen teacher, on this rank
    nvme_bytes: int | None = None  # NVMe offload: this rank's swap files in the named folder
    memory_snapshot: str | None = None  # CUDA allocator history (MEMSWEEP_MEMORY_SNAPSHOT=DIR)
    node: str | None = None  # the Slurm node it ran on (SLURMD_NODENAME); None outside Slurm
    # The probe step's peak of live tensor bytes on the compute device (the largest of its
    # forward, backward and step phases), that phase, and the breakdown at the peak.
    tensor_peak_bytes: int | None = None
    tensor_peak_phase: str | None = None
    tensor_breakdown: dict | None = None


@dataclass(frozen=True, kw_only=True)
class Measurements:
    step_times_s: tuple[float, ...]  # slowest rank per timed step
    step_time_s: float  # median of step_times_s
    step_time_iqr_s: float
    samples_per_s: float  # global, all ranks
    tokens_per_s: float
    final_loss: float  # loss of step warmup_steps + timed_steps: the same steps on every run
    step_time_cv: float | None = None  # stdev / mean of step_times_s
    stable: bool | None = None  # the median settled before max_timed_steps (None: fixed count)
    flops_per_token: float | None = None  # 6N + 12·L·h·s, recompute not counted
    tflops_per_rank: float | None = None  # achieved, per rank
    peak_tflops: float | None = None  # the device's dense peak for the precision, if known
    peak_source: str | None = None  # where peak_tflops came from (datasheet row or profile)
    mfu: float | None = None  # tflops_per_rank / peak_tflops; None where the peak is unknown


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
    oom: OomInfo | None = None  # status oom: where and how much

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
