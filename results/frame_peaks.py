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

import numpy as np
import pyarrow as pa

from results.per_run import first_largest, most
from results.schema import RankMetrics, RunRecord

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


def peak_columns(records: list[RunRecord], ranks: list[RankMetrics], owner: np.ndarray) \
        -> dict[str, list | pa.Array]:
    """The records' values of COLUMNS, in that order, a column each (None or null where a
    record does not hold one); `ranks` are the records' ranks, listed record after record,
    `owner` the record of each (results/per_run.py)."""
    n = len(records)
    measured = _chosen(ranks, first_largest(owner, [k.tensor_peak_bytes for k in ranks], n))
    col = {"tensor_peak_phase": [k and k.tensor_peak_phase for k in measured]}
    col.update(_breakdowns("tensor_peak", [k and k.tensor_breakdown for k in measured]))
    held = [(i, k.predicted) for i, k in zip(owner.tolist(), ranks, strict=True)
            if k.predicted is not None]
    p_owner = np.array([i for i, _ in held], dtype=np.int64)
    predictions = [p for _, p in held]
    predicted = _chosen(predictions,
                        first_largest(p_owner, [p.peak_bytes for p in predictions], n))
    col["predicted_peak_phase"] = [p and p.peak_phase for p in predicted]
    col.update(_breakdowns("predicted_peak", [p and p.peak_breakdown for p in predicted]))
    phases = [p for k in ranks for p in k.phases]
    ph_owner = np.repeat(owner, [len(k.phases) for k in ranks]) if phases else owner[:0]
    names = np.array([p.phase for p in phases]) if phases else np.array([], dtype=str)
    tensor = [p.tensor_peak_bytes for p in phases]
    for phase in TENSOR_PHASES:
        col[f"tensor_peak_{phase}_bytes"] = most(ph_owner, tensor, n, names == phase)
    for phase in PREDICTED_PHASES:
        col[f"predicted_peak_{phase}_bytes"] = most(
            p_owner, [(p.phase_peak_bytes or {}).get(phase) for p in predictions], n)
    rss = [p.host_rss_bytes for p in phases]
    for phase in RSS_PHASES:
        col[f"host_rss_{phase}_bytes"] = most(ph_owner, rss, n, names == phase)
    col["activation_bytes"] = most(owner, [k.activation_bytes for k in ranks], n)
    col["activation_peak_bytes"] = most(owner, [k.activation_peak_bytes for k in ranks], n)
    col["predicted_activation_bytes"] = most(
        p_owner, [p.ops_activation_bytes for p in predictions], n)
    measurements = [r.measurements for r in records]
    for name in (*_THROUGHPUT, "stable"):
        col[name] = [m and getattr(m, name) for m in measurements]
    ooms = [r.oom for r in records]
    col["oom_rank"] = [o and o.rank for o in ooms]
    col["oom_reached_bytes"] = [o and o.reached_bytes for o in ooms]
    col["oom_limit_bytes"] = [o and o.limit_bytes for o in ooms]
    return {c: col[c] for c in COLUMNS}


def _chosen(items: list, index: np.ndarray) -> list:
    """The item at each index, None where it is -1."""
    return [items[i] if i >= 0 else None for i in index.tolist()]


def _breakdowns(prefix: str, breakdowns: list[dict | None]) -> dict[str, list]:
    """A column per category. A category the breakdown does not name held nothing at the
    peak (0, not unknown); one this code does not know is counted as other, so the columns
    still add up to the peak."""
    names = [f"{prefix}_{c}_bytes" for c in CATEGORIES]
    if all(b is None for b in breakdowns):
        return {name: [None] * len(breakdowns) for name in names}
    rows = [_categories(b) for b in breakdowns]
    return {name: [row[i] for row in rows] for i, name in enumerate(names)}


def _categories(breakdown: dict | None) -> tuple:
    if breakdown is None:
        return (None,) * len(CATEGORIES)
    out = [breakdown.get(c, 0) for c in CATEGORIES]
    out[-1] += sum(v for c, v in breakdown.items() if c not in CATEGORIES)
    return tuple(out)
