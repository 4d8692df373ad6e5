"""What `memsweep strategies` and `memsweep plan --explain RUN_ID` print (pure: no torch)."""

from __future__ import annotations

import json

from suite.axes import AXES, WORKLOAD_AXES
from suite.ds_config import deepspeed_config
from suite.errors import UserInputError
from suite.memory_model import predict
from suite.rules import RULES
from suite.scenario import Scenario
from suite.strategies import STRATEGIES, active, effective
from suite.strategy_spec import SCENARIO_KINDS
from suite.sweep import Sweep


def catalogue_text() -> str:
    """Every strategy: its one line, its axes and values (default first), kinds and rules."""
    lines = [f"{len(STRATEGIES)} strategies (suite/strategies/); workload axes: "
             f"{', '.join(WORKLOAD_AXES)}", ""]
    for s in STRATEGIES:
        lines.append(f"{s.name}: {s.description}")
        for a in s.axes:
            lines.append(f"  axis {a.name} = {a.describe()}  (default {a.default!r})")
        if s.uses:
            lines.append(f"  swept on the workload axes {', '.join(s.uses)}")
        if set(s.kinds) != set(SCENARIO_KINDS):
            lines.append(f"  kinds: {', '.join(s.kinds)}")
        own = [r.name for r in s.rules] + [r.name for r in RULES if r.name.startswith(
            f"{s.name}-needs-kind") or r.name == f"{s.name}-sets-its-axes"]
        for rule in (r for r in RULES if r.name in own):
            lines.append(f"  rule {rule.name}: {rule.reason}")
        hooks = [h.split("=")[0] for h in s.hooks()]
        lines.append(f"  hooks: {', '.join(hooks) if hooks else 'none (core model only)'}")
        lines.append("")
    return "\n".join(lines).rstrip()


def explain(sweep: Sweep, run_id: str, *, as_json: bool = False) -> str:
    """The full resolved configuration of one scenario of `sweep`."""
    scenario = next((s for s in sweep.scenarios if s.run_id == run_id), None)
    if scenario is None:
        for e in sweep.excluded:
            s = Scenario.from_values(sweep=sweep.name, values=e.values, settings=sweep.settings)
            if s.run_id == run_id:
                raise UserInputError(f"run {run_id} is excluded: {e.reason}", source=sweep.source,
                                     key="--explain", fix="pick a run_id `memsweep plan` lists")
        raise UserInputError(f"no scenario with run_id {run_id}", source=sweep.source,
                             key="--explain", fix="take a run_id from `memsweep plan SWEEP`")
    values = effective(scenario.values)
    on = active(scenario.values)
    trains = values["kind"] != "inference"
    config = deepspeed_config(scenario) if trains else None
    p = predict(scenario.values)
    info = {
        "run_id": run_id, "sweep": sweep.name, "source": sweep.source,
        "repetition": scenario.repetition, "settings": scenario.to_json()["settings"],
        "params": scenario.values,
        "implied": {k: v for k, v in values.items() if scenario.values[k] != v},
        "strategies": [s.name for s in on],
        "transforms": [f"{s.name}: {s.model_transform.__module__}."
                       f"{s.model_transform.__qualname__}"
                       for s in on if s.model_transform is not None],
        "hooks": {s.name: s.hooks() for s in on},
        "engine": "DeepSpeed" if trains else "none: eval() + no_grad forward passes",
        "deepspeed_config": config,
        "predicted": {**p.ledger(), "activation_bytes": p.activation_bytes,
                      "buffer_bytes": p.buffer_bytes, "device_bytes": p.device_bytes,
                      "terms": [f"{t.category}: {t.name} {t.nbytes:+,} B ({t.place})"
                                for t in p.terms]},
    }
    if as_json:
        return json.dumps(info, indent=1)
    lines = [f"run {run_id} of sweep {sweep.name} ({sweep.source}), repetition "
             f"{scenario.repetition}", "", "scenario (* = not the axis default):"]
    lines += [f"  {'*' if v != AXES[k].default else ' '} {k} = {v!r}"
              for k, v in scenario.values.items() if k != "deepspeed_base"]
    if scenario["deepspeed_base"]:
        lines.append("  * deepspeed_base = (the sweep's JSON; merged below)")
    if info["implied"]:
        lines += ["", "set by presets:"] + [f"    {k} = {v!r}" for k, v in info["implied"].items()]
    lines += ["", f"strategies on: {', '.join(info['strategies']) or 'none (baseline)'}",
              f"engine: {info['engine']}", "model transforms, in order:"]
    lines += [f"  {t}" for t in info["transforms"]] or ["  none"]
    for name, hooks in info["hooks"].items():
        lines.append(f"  {name} hooks: {', '.join(hooks) or '-'}")
    if config is not None:
        lines += ["", "DeepSpeed config:", json.dumps(config, indent=2)]
    lines += ["", "predicted bytes per rank (suite/memory_model.py):"]
    lines += [f"  {k} = {v:,}" for k, v in info["predicted"].items() if k != "terms"]
    lines += [f"    {t}" for t in info["predicted"]["terms"]]
    return "\n".join(lines)
