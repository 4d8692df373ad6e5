"""Reading one scenario out of a plan file (what `memsweep plan --format json` prints)."""

from __future__ import annotations

import json
from pathlib import Path

from suite.errors import UserInputError
from suite.names import check_name
from suite.scenario import Scenario


def load_scenario(plan: Path, *, run_id: str | None = None, index: int | None = None) -> Scenario:
    """The scenario with `run_id`, or at position `index` of the plan's "scenarios"."""
    src, fix = str(plan), "write it with `memsweep plan SWEEP --format json > FILE`"
    try:
        data = json.loads(Path(plan).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError("no such plan file", source=src, fix=fix) from None
    except (OSError, ValueError) as e:
        raise UserInputError(f"not a readable JSON plan: {e}", source=src, fix=fix) from None
    scenarios = data.get("scenarios") if isinstance(data, dict) else None
    if not isinstance(scenarios, list):
        raise UserInputError("has no \"scenarios\" list", source=src, key="scenarios")
    if index is not None:
        if not 0 <= index < len(scenarios):
            raise UserInputError(f"--index {index} is outside the plan's {len(scenarios)} "
                                 f"scenarios", source=src,
                                 fix=f"give 0 to {len(scenarios) - 1}")
        entry = scenarios[index]
    else:
        check_name(run_id, what="--run-id")
        entry = next((s for s in scenarios if isinstance(s, dict) and s.get("run_id") == run_id),
                     None)
        if entry is None:
            raise UserInputError(f"no scenario with run_id {run_id}", source=src, key="--run-id",
                                 fix="take a run_id from `memsweep plan` of this sweep")
    try:
        return Scenario.from_json(entry)
    except (KeyError, TypeError, ValueError) as e:  # UserInputError is not among these
        raise UserInputError(f"scenario {index if index is not None else run_id} is not valid: "
                             f"{e}", source=src) from None
