"""Schema v1 of the result record: one JSON file per run, and its one definition.

The classes below are msgspec Structs: the same definition builds a record in a
run, writes it (`to_json`) and decodes a file strictly (`decode`: types checked
field by field, no unknown field, no missing required one), so the loader can
quarantine a hand-edited or foreign file instead of feeding it to a plot.
Adding an optional field is one line in its class (`name: type | None = None`).
"""

from __future__ import annotations

import json

import msgspec
from msgspec import field

SCHEMA_VERSION = 1
STATUSES = ("ok", "oom", "failed", "timeout", "cancelled", "node_fail", "missing", "skipped")


# A copy of a record or part with some fields changed (as dataclasses.replace).
replace = msgspec.structs.replace


class SchemaError(ValueError):
    """A record file does not match the schema; the message says which field."""


class _Part(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    """A part of a record: immutable, strict about unknown fields, not tracked by the cycle
    collector (a record holds no cycles; many thousands of parts load faster without it).
    Each subclass says kw_only=True itself (msgspec does not inherit it): fields are named."""

    def to_json(self) -> dict:
        """This part as JSON values (nested parts as objects, tuples as lists)."""
        return msgspec.to_builtins(self)


class _Record(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True,
              tag_field="schema_version"):
    """A record of some schema version (the tag): msgspec requires the tag when it decodes a
    union of tagged classes, so a file without `schema_version` is refused."""


class _Unversioned(_Record, tag=0):
    """Schema version 0 was never written: this class only completes the union `decode` reads
    (a lone tagged class would take a missing tag as its own)."""


class PhasePeak(_Part, kw_only=True):
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


class PredictedMemory(_Part, kw_only=True):
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


class OomInfo(_Part, kw_only=True):
    """Where a run ran out of memory (status `oom`)."""

    rank: int
    phase: str | None  # the phase it was in (PhasePeak.phase names), None if before any
    kind: str  # "device" (CUDA out of memory), "host" (allocation refused), "killed" (kernel)
    reached_bytes: int | None = None  # CUDA max allocated / the capped VmData at the failure
    limit_bytes: int | None = None  # the GPU's memory / the scenario's host_mem_cap
    requested_bytes: int | None = None  # the allocation that failed, from the error message
    # What that allocation was, where its size is one the scenario's configuration names
    # (suite/peak_model.py's named_allocations: "reduce bucket (reduce_bucket_size = ...)").
    allocation: str | None = None
    peak_host_rss_bytes: int | None = None


class RankMetrics(_Part, kw_only=True):
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
    pipeline_stage: int | None = None  # pipeline parallelism: the stage whose layers it holds
    # The probe step's peak of live tensor bytes on the compute device (the largest of its
    # forward, backward and step phases), that phase, and the breakdown at the peak.
    tensor_peak_bytes: int | None = None
    tensor_peak_phase: str | None = None
    tensor_breakdown: dict | None = None


class Measurements(_Part, kw_only=True):
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
    # The host's 1-minute load average when the record was made, just after the timed steps,
    # and the CPUs this run's processes may use: a load above them means other work shared the
    # CPUs while the steps were timed (a CPU run's speed is then not its own).
    load_average: float | None = None
    cpus: int | None = None


class RunRecord(_Record, tag=SCHEMA_VERSION, kw_only=True):
    """One run's record. `schema_version` is the tag msgspec writes first and requires."""

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
        """The record as JSON values (schema_version first); `from_json` reads it back."""
        return msgspec.to_builtins(self)

    @classmethod
    def from_json(cls, data: object) -> RunRecord:
        """The record of a JSON object, checked as `decode` checks a file's bytes."""
        try:
            return _checked(msgspec.convert(data, _Unversioned | RunRecord,
                                            strict=True))
        except msgspec.ValidationError as e:
            raise SchemaError(_message(e)) from None


_DECODER = msgspec.json.Decoder(_Unversioned | RunRecord, strict=True)


def decode(raw: bytes) -> RunRecord:
    """The record in a file's bytes, or SchemaError saying what is wrong and where: not JSON,
    nested too deeply, a wrong or missing schema_version, a field of the wrong type, unknown
    or missing, or a scenario or fingerprint the frame could not read (`check_free_form`)."""
    try:
        return _checked(_DECODER.decode(raw))
    except msgspec.ValidationError as e:
        raise SchemaError(_message(e)) from None
    except msgspec.DecodeError as e:  # bytes that are not JSON (or not UTF-8) ...
        problem = e
    except RecursionError:
        raise SchemaError("not a record: JSON nested too deeply to read") from None
    try:  # ... or JSON with NaN or Infinity, which json.dump writes and json reads
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise SchemaError(f"not a record: {problem}") from None
    return RunRecord.from_json(data)


def _checked(record: object) -> RunRecord:
    if type(record) is not RunRecord:
        raise SchemaError(f"schema_version 0, this memsweep reads {SCHEMA_VERSION}")
    check_free_form(record.scenario, record.fingerprint)
    return record


def _message(e: msgspec.ValidationError) -> str:
    """msgspec's message with its path first, named from `record` (`$.ranks[0].x` ->
    `record.ranks[0].x`)."""
    text, _, where = str(e).partition(" - at `$")
    where = "record" + where.rstrip("`")
    if where == "record.schema_version":
        text += f"; this memsweep reads schema_version {SCHEMA_VERSION}"
    return f"{where}: {text[:1].lower()}{text[1:]}"


# The schema leaves `scenario` and `fingerprint` free-form (dict), but the frame and the
# report read these parts blind: a hand-edited value of the wrong type there is refused.
_SCALAR = frozenset((str, int, float, bool, type(None)))
_FRAME_FINGERPRINT = ("hostname", "partition", "torch", "deepspeed", "cpu", "gpu", "git_commit")


def check_free_form(scenario: dict, fingerprint: dict) -> None:
    """Raise SchemaError unless `scenario` has Scenario.to_json's shape (params with the model's
    name, settings, repetition; values JSON scalars) and the fingerprint entries that become
    frame columns are text or null."""
    params, settings = scenario.get("params"), scenario.get("settings", {})
    if type(params) is not dict or type(params.get("model")) is not str:
        raise SchemaError("record.scenario.params: expected an object naming the model")
    for where, values in (("params", params), ("settings", settings)):
        if type(values) is not dict or not _SCALAR.issuperset(map(type, values.values())):
            raise SchemaError(f"record.scenario.{where}: expected an object of numbers, text, "
                              "true/false or null")
    if type(scenario.get("repetition", 0)) is not int:
        raise SchemaError("record.scenario.repetition: expected int")
    for key in _FRAME_FINGERPRINT:
        if type(fingerprint.get(key)) not in (str, type(None)):
            raise SchemaError(f"record.fingerprint.{key}: expected text or null")
