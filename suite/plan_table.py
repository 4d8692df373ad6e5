"""Rendering a sweep's scenario list as a text table or JSON (what `memsweep plan` prints)."""

from __future__ import annotations

import json
from dataclasses import asdict

from suite.memory_model import predict
from suite.models import human_count, model_spec
from suite.sweep import Sweep
from suite.units import format_bytes


def varying_axes(sweep: Sweep) -> list[str]:
    """The axes with more than one value: the columns worth printing."""
    return [name for name, values in sweep.axes.items() if len(values) > 1] or ["model"]


def plan_json(sweep: Sweep, *, capacity: int | None = None) -> str:
    scenarios = [s.to_json() for s in sweep.scenarios]
    if capacity is not None:
        for entry, s in zip(scenarios, sweep.scenarios, strict=True):
            p = predict(s.values)
            entry["predicted"] = {"model_state_bytes": p.model_state_bytes,
                                  "activation_bytes": p.activation_bytes,
                                  "device_bytes": p.device_bytes,
                                  "fits": p.device_bytes <= capacity}
    search = {"search": asdict(sweep.search)} if sweep.search else {}
    return json.dumps({
        "sweep": sweep.name, "source": sweep.source, "description": sweep.description,
        **search, "scenarios": scenarios,
        "excluded": [{"params": e.values, "reason": e.reason} for e in sweep.excluded],
    }, indent=1)


def plan_text(sweep: Sweep, *, capacity: int | None = None) -> str:
    """The scenario table; with `capacity`, the predicted bytes per rank and whether they fit."""
    cols = varying_axes(sweep)
    header = ["run_id", *cols, "n_params"] + (["rep"] if sweep.repetitions > 1 else [])
    if capacity is not None:
        header += ["model states", "activations", "on device", "fits"]
    rows = []
    for s in sweep.scenarios:
        row = [s.run_id, *(str(s[c]) for c in cols), human_count(model_spec(s["model"]).n_params)]
        row += [str(s.repetition)] if sweep.repetitions > 1 else []
        if capacity is not None:
            p = predict(s.values)
            row += [format_bytes(p.model_state_bytes), format_bytes(p.activation_bytes),
                    format_bytes(p.device_bytes), "yes" if p.device_bytes <= capacity else "NO"]
        rows.append(row)
    fixed = ", ".join(f"{k}={v[0]}" for k, v in sweep.axes.items() if k not in cols)
    lines = [f"sweep {sweep.name} ({sweep.source}): {len(sweep.scenarios)} scenarios, "
             f"{len(sweep.excluded)} excluded", f"fixed: {fixed}" if fixed else ""]
    if capacity is not None:
        lines.append(f"predicted bytes per rank (suite/memory_model.py) against a capacity of "
                     f"{format_bytes(capacity)}")
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

