"""`memsweep peak-table`: the measured tensor peak against the predicted one, per rank, as the
Markdown table docs/measurement.md shows.

One row per ok training scenario (train or distill) whose records hold both peaks (repetitions:
the first record read); MiB per rank, two decimals; where the ranks differ, their values in
rank order joined by "/". Columns: model (with the scenario's other axes off their default in
parentheses, e.g. "tiny (kind=distill teacher=small)", so that a strategy's runs keep their own
rows), ZeRO stage, optimizer offload, bucket sizes, world size, the measured peak
(jobs/peak_probe.py), the predicted one (suite/peak_model.py), their ratio, the phase of the
measured peak, and what the peak host RSS adds to it (negative where it is below: tensors
allocated but never written, such as DeepSpeed's reduce bucket, are not resident).
"""

from __future__ import annotations

from pathlib import Path

from results.load import load_records
from results.schema import RunRecord
from suite.axes import AXES
from suite.models import MODELS, decode
from suite.peak_model import TRAINING_KINDS

MiB = 2**20
HEADER = ("model", "stage", "offload", "buckets", "ranks", "measured MiB", "predicted MiB",
          "ratio", "phase", "RSS adds MiB")
_KEYS = ("model", "zero_stage", "offload_optimizer", "bucket_sizes", "world_size")


def peak_table(dirs: list[Path]) -> str:
    """The table of every sweep folder in `dirs` (records read as `report` reads them)."""
    records = [r for d in dirs for r in load_records(d)[0]]
    rows: dict[tuple, list[str]] = {}
    for r in sorted(records, key=lambda r: r.run_id):
        key = _key(r)
        if key is not None and key not in rows:
            rows[key] = _cells(r)
    lines = [_line(HEADER), _line(["---"] * len(HEADER))]
    lines += [_line(rows[k]) for k in sorted(rows, key=_order)]
    return "\n".join(lines)


def _key(r: RunRecord) -> tuple | None:
    params = r.scenario.get("params", {})
    if r.status != "ok" or params.get("kind", "train") not in TRAINING_KINDS \
            or not r.ranks:
        return None
    if any(k.tensor_peak_bytes is None or k.predicted is None or k.predicted.peak_bytes is None
           for k in r.ranks):
        return None
    return (*(params.get(name, AXES[name].default) for name in _KEYS), _others(params))


def _others(params: dict) -> tuple[tuple[str, str], ...]:
    """The scenario's axes beyond the table's columns that are off their default; a setting
    of a strategy that changes no byte (nvme_path: where it swaps) is not one."""
    return tuple(sorted((name, str(v)) for name, v in params.items()
                        if name in AXES and name not in _KEYS and AXES[name].names_strategy
                        and v != AXES[name].default))


def _cells(r: RunRecord) -> list[str]:
    params = r.scenario["params"]
    others = " ".join(f"{name}={v}" for name, v in _others(params))
    ranks = sorted(r.ranks, key=lambda k: k.rank)
    measured = [k.tensor_peak_bytes for k in ranks]
    predicted = [k.predicted.peak_bytes for k in ranks]
    cells = [str(params.get(name, AXES[name].default)) for name in _KEYS]
    cells[0] += f" ({others})" if others else ""
    return [*cells,
            _joined(f"{v / MiB:.2f}" for v in measured),
            _joined(f"{v / MiB:.2f}" for v in predicted),
            _joined(f"{m / p:.3f}" for m, p in zip(measured, predicted, strict=True)),
            _joined(k.tensor_peak_phase or "" for k in ranks),
            _joined(f"{(k.peak_host_rss_bytes - k.tensor_peak_bytes) / MiB:+.0f}"
                    for k in ranks)]


def _joined(values) -> str:
    """One value when every rank has it, else each rank's in order."""
    values = list(values)
    return values[0] if len(set(values)) == 1 else "/".join(values)


def _order(key: tuple) -> tuple:
    model = key[0]
    spec = MODELS.get(model) or (decode(model) if isinstance(model, str) else None)
    size = spec.n_params if spec is not None else 0
    # each axis: its default first, then by value
    return (size, str(model), *((v != AXES[name].default, str(v))
                                for name, v in zip(_KEYS[1:], key[1:-1], strict=True)), key[-1])


def _line(cells) -> str:
    return "| " + " | ".join(cells) + " |"
