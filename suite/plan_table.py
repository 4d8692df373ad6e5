"""Rendering a sweep's scenario list as a text table or JSON (what `memsweep plan` prints).

Display only: the plan file itself is suite/plan.py's.
"""

from __future__ import annotations

import json

from suite.capacity import default_capacity
from suite.memory_model import predict
from suite.models import human_count, model_spec
from suite.peak_model import TRAINING_KINDS, budget_need, predict_peak
from suite.plan import Plan
from suite.sweep import Sweep
from suite.units import format_bytes


def varying_axes(sweep: Sweep) -> list[str]:
    """The axes with more than one value: the columns worth printing."""
    return [name for name, values in sweep.axes.items() if len(values) > 1] or ["model"]


def fit(scenario, capacity: int | None) -> dict:
    """The prediction `plan --predict` shows for one scenario against its capacity (None:
    the scenario's device's, suite/capacity.py): at rest, the peak, the budget, fits."""
    p = predict(scenario.values)
    cap, source = (capacity, "--capacity") if capacity is not None else \
        default_capacity(scenario)
    out = {"model_state_bytes": p.model_state_bytes, "activation_bytes": p.activation_bytes,
           "device_bytes": p.device_bytes, "capacity_bytes": cap, "capacity_source": source}
    need = budget_need(scenario.values)  # the capacity search's and the report's too
    if scenario["kind"] not in TRAINING_KINDS:  # the peak model is training's
        return {**out, "budget_bytes": need, "fits": need <= cap}
    peak = predict_peak(scenario.values)
    return {**out, "peak_bytes": peak.peak_bytes, "peak_phase": peak.peak_phase,
            "runtime_bytes": peak.runtime_bytes, "budget_bytes": need, "fits": need <= cap}


def plan_json(sweep: Sweep, *, capacity: int | None = None, predict: bool = False) -> str:
    """The plan (suite/plan.py) as JSON; with `predict` (or a `capacity`), each scenario's
    predicted bytes."""
    plan = Plan.of(sweep).to_json()
    if predict or capacity is not None:
        for entry, s in zip(plan["scenarios"], sweep.scenarios, strict=True):
            entry["predicted"] = fit(s, capacity)
    return json.dumps(plan, indent=1)


def plan_text(sweep: Sweep, *, capacity: int | None = None, predict: bool = False) -> str:
    """The scenario table; with `predict` (or a `capacity`), the predicted bytes per rank --
    at rest, the step's peak (suite/peak_model.py) and its phase, the peak plus the runtime
    baseline against the capacity (given, or the scenario's device's) -- and whether it fits."""
    cols = varying_axes(sweep)
    header = ["run_id", *cols, "n_params"] + (["rep"] if sweep.repetitions > 1 else [])
    predict = predict or capacity is not None
    if predict:
        header += ["model states", "peak (phase)", "+ runtime", "capacity", "fits"]
    rows = []
    for s in sweep.scenarios:
        row = [s.run_id, *(str(s[c]) for c in cols), human_count(model_spec(s["model"]).n_params)]
        row += [str(s.repetition)] if sweep.repetitions > 1 else []
        if predict:
            f = fit(s, capacity)
            peak = f"{format_bytes(f['peak_bytes'])} ({f['peak_phase']})" if "peak_bytes" in f \
                else format_bytes(f["device_bytes"])
            row += [format_bytes(f["model_state_bytes"]), peak, format_bytes(f["budget_bytes"]),
                    format_bytes(f["capacity_bytes"]), "yes" if f["fits"] else "NO"]
        rows.append(row)
    fixed = ", ".join(f"{k}={v[0]}" for k, v in sweep.axes.items() if k not in cols)
    lines = [f"sweep {sweep.name} ({sweep.source}): {len(sweep.scenarios)} scenarios, "
             f"{len(sweep.excluded)} excluded", f"fixed: {fixed}" if fixed else ""]
    if predict:
        against = format_bytes(capacity) if capacity is not None else \
            "the scenario's device (host_mem_cap or RAM / ranks on cpu, GPU memory on cuda)"
        lines.append(f"predicted bytes per rank (suite/memory_model.py at rest, "
                     f"suite/peak_model.py's peak + the runtime baseline) against {against}")
    lines.append("")
    lines += _table(header, rows)
    if sweep.excluded:
        lines += ["", "excluded:"]
        lines += [f"  {', '.join(f'{c}={e.values[c]}' for c in cols)}  <- {e.reason}"
                  for e in sweep.excluded]
    return "\n".join(lines)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    rule = fmt.format(*("-" * w for w in widths))
    return [fmt.format(*header), rule] + [fmt.format(*r) for r in rows]

