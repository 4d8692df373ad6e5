"""The DeepSpeed config of a scenario: a pure function of its axis values.

    the user's base (`[sweep] deepspeed_base`, if any)
    <- memsweep's base: batch sizes, quiet logging
    <- each strategy's fragment, in catalogue order (suite/strategies/)

Everything DeepSpeed is told comes from here, so a record's scenario says all
there is to know about how it ran. A fragment may write "{run_id}" in a string
(a per-run folder); it is replaced here. Keys are DeepSpeed 0.14+ config keys
(https://www.deepspeed.ai/docs/config-json/).
"""

from __future__ import annotations

import json

from suite.resolved import Resolved
from suite.scenario import Scenario
from suite.strategies import STRATEGIES, effective
from suite.strategy_spec import merge

# DeepSpeed logs every `steps_per_print` steps; a sweep never reaches this many.
QUIET_STEPS = 10**9


def deepspeed_config(scenario: Scenario | Resolved) -> dict:
    """DeepSpeed's config dict for `scenario` (as the sweep wrote it, or resolved)."""
    v = effective(scenario.values)
    config = json.loads(v["deepspeed_base"]) if v["deepspeed_base"] else {}
    config = merge(config, {
        "train_micro_batch_size_per_gpu": v["micro_batch"],
        "gradient_accumulation_steps": v["grad_accum"],
        "train_batch_size": v["micro_batch"] * v["grad_accum"] * v["world_size"],
        "wall_clock_breakdown": False,
        "steps_per_print": QUIET_STEPS,
    })
    for strategy in STRATEGIES:
        if strategy.configure is not None:
            config = merge(config, strategy.configure(v, config))
    return _fill(config, scenario)


def _fill(value, scenario: Scenario | Resolved):
    """`value` with "{run_id}" replaced by the scenario's run_id in every text. The run_id is
    hashed only where it is used (few configs name it; the planner and the report's fits
    make thousands of configs)."""
    if isinstance(value, dict):
        return {k: _fill(x, scenario) for k, x in value.items()}
    if isinstance(value, list):
        return [_fill(x, scenario) for x in value]
    if isinstance(value, str) and "{run_id}" in value:
        return value.replace("{run_id}", scenario.run_id)
    return value
