"""The frame's columns of the peak, its prediction and the throughput model: from a record.

They follow frame.py's columns in the frame, in this order. A breakdown is that of one
rank, the one whose peak is largest (measured and predicted each their own), so that its
categories add up to the peak column beside it; every other per-rank figure is the maximum
over the ranks, as in results/frame.py.

| column | type | meaning |
|---|---|---|
| tensor_peak_phase | str | probe step phase of the measured tensor peak |
| predicted_peak_phase | str | the phase the analytical model puts the peak in |
| tensor_peak_<category>_bytes | Int64 | the measured peak's breakdown, per CATEGORIES |
| predicted_peak_<category>_bytes | Int64 | the analytical peak's breakdown, same categories |
| tensor_peak_<phase>_bytes | Int64 | live tensor peak per TENSOR_PHASES (timed steps untracked) |
| predicted_peak_<phase>_bytes | Int64 | the analytical peak per phase: forward, backward, step |
| host_rss_<phase>_bytes | Int64 | peak host RSS per RSS_PHASES |
| activation_bytes | Int64 | autograd's saved tensors of one forward (torch's count) |
| activation_peak_bytes | Int64 | most memory above the forward's start, probe step |
| predicted_activation_bytes | Int64 | modelled activations, from the model's operations |
| step_time_cv | float | stdev / mean of the timed step times |
| stable | boolean | the median step settled before the step limit (NA: fixed count) |
| flops_per_token | float | training FLOPs per token (6N + 12·L·h·s, recompute not counted) |
| tflops_per_rank | float | achieved TFLOP/s per rank |
| peak_tflops | float | the device's dense peak TFLOP/s (NA where unknown: a CPU) |
| mfu | float | model FLOPs utilisation: tflops_per_rank / peak_tflops |
| oom_rank | Int64 | the rank that ran out of memory |
| oom_reached_bytes | Int64 | CUDA max allocated, or the capped VmData, at the failure |
| oom_limit_bytes | Int64 | the GPU's memory, or the scenario's host_mem_cap |
"""

from __future__ import annotations

from results.schema import RunRecord

# jobs/peak_probe.py's categories of a measured breakdown; suite/peak_model.py's terms name
# the same ones. Spelled here too: results sits below jobs.
CATEGORIES = ("params", "grads", "master_params", "optimizer_state", "buffers", "activations",
              "temporaries", "other")
TENSOR_PHASES = ("init", "warmup", "forward", "backward", "step")
PREDICTED_PHASES = ("forward", "backward", "step")
RSS_PHASES = ("init", "warmup", "timed", "forward", "backward", "step")
_THROUGHPUT = ("step_time_cv", "flops_per_token", "tflops_per_rank", "peak_tflops", "mfu")
_OOM = ("oom_rank", "oom_reached_bytes", "oom_limit_bytes")
MEASURED_BREAKDOWN = tuple(f"tensor_peak_{c}_bytes" for c in CATEGORIES)
PREDICTED_BREAKDOWN = tuple(f"predicted_peak_{c}_bytes" for c in CATEGORIES)

INTS = (*MEASURED_BREAKDOWN, *PREDICTED_BREAKDOWN,
        *(f"tensor_peak_{p}_bytes" for p in TENSOR_PHASES),
        *(f"predicted_peak_{p}_bytes" for p in PREDICTED_PHASES),
        *(f"host_rss_{p}_bytes" for p in RSS_PHASES),
        "activation_bytes", "activation_peak_bytes", "predicted_activation_bytes", *_OOM)
FLOATS = _THROUGHPUT
BOOLEANS = ("stable",)
COLUMNS: tuple[str, ...] = ("tensor_peak_phase", "predicted_peak_phase", *INTS[:-len(_OOM)],
                            "step_time_cv", "stable", *_THROUGHPUT[1:], *_OOM)


def peak_columns(r: RunRecord) -> dict:
    """The record's values of COLUMNS, in that order (None where it does not hold one)."""
    ranks = r.ranks
    measured = max((k for k in ranks if k.tensor_peak_bytes is not None), default=None,
                   key=lambda k: k.tensor_peak_bytes)
    predictions = [k.predicted for k in ranks if k.predicted is not None]
    predicted = max((p for p in predictions if p.peak_bytes is not None), default=None,
                    key=lambda p: p.peak_bytes)
    row = {"tensor_peak_phase": measured.tensor_peak_phase if measured else None}
    row.update(_breakdown("tensor_peak", measured.tensor_breakdown if measured else None))
    row["predicted_peak_phase"] = predicted.peak_phase if predicted else None
    row.update(_breakdown("predicted_peak", predicted.peak_breakdown if predicted else None))
    phases = [p for k in ranks for p in k.phases]
    for phase in TENSOR_PHASES:
        row[f"tensor_peak_{phase}_bytes"] = _most(p.tensor_peak_bytes for p in phases
                                                  if p.phase == phase)
    for phase in PREDICTED_PHASES:
        row[f"predicted_peak_{phase}_bytes"] = _most((p.phase_peak_bytes or {}).get(phase)
                                                     for p in predictions)
    for phase in RSS_PHASES:
        row[f"host_rss_{phase}_bytes"] = _most(p.host_rss_bytes for p in phases
                                               if p.phase == phase)
    row["activation_bytes"] = _most(k.activation_bytes for k in ranks)
    row["activation_peak_bytes"] = _most(k.activation_peak_bytes for k in ranks)
    row["predicted_activation_bytes"] = _most(p.ops_activation_bytes for p in predictions)
    m = r.measurements
    for name in _THROUGHPUT:
        row[name] = getattr(m, name) if m else None
    row["stable"] = m.stable if m else None
    oom = r.oom
    row["oom_rank"] = oom.rank if oom else None
    row["oom_reached_bytes"] = oom.reached_bytes if oom else None
    row["oom_limit_bytes"] = oom.limit_bytes if oom else None
    return {c: row[c] for c in COLUMNS}


def _breakdown(prefix: str, breakdown: dict | None) -> dict:
    """A category the breakdown does not name held nothing at the peak (0, not unknown); one
    this code does not know is counted as other, so the columns still add up to the peak."""
    if breakdown is None:
        return {f"{prefix}_{c}_bytes": None for c in CATEGORIES}
    out = {f"{prefix}_{c}_bytes": breakdown.get(c, 0) for c in CATEGORIES}
    out[f"{prefix}_other_bytes"] += sum(v for c, v in breakdown.items() if c not in CATEGORIES)
    return out


def _most(values) -> int | None:
    seen = [v for v in values if v is not None]
    return max(seen) if seen else None
