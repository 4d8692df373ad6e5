"""The plan file: a sweep's scenarios in run order, written once before anything runs.

    DIR/plan.json   {"sweep", "source", "description", "scenarios": [Scenario.to_json()],
                     "excluded": [{"params", "reason"}], "search": {...} (a [search] sweep)}

Array task i runs scenarios[i]; the worker finds its scenario by index or run_id.
`Plan` is the one reader and writer of the file: every read is validated (structure,
each scenario's axis values, each run_id against its parameters), so a hand-edited or
truncated plan stops with the file, the key and the fix, not in a rank.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from suite.errors import UserInputError
from suite.files import write_json_atomic
from suite.names import check_name
from suite.scenario import Scenario
from suite.search import SearchSpec
from suite.sweep import Excluded, Sweep

PLAN_FILE = "plan.json"
_FIX = "write it with `memsweep plan SWEEP --format json > FILE`, or rerun `memsweep run`"


def plan_path(folder: Path) -> Path:
    """Where a sweep output folder keeps its plan."""
    return Path(folder) / PLAN_FILE


@dataclass(frozen=True, kw_only=True)
class Plan:
    sweep: str
    source: str
    description: str
    scenarios: tuple[Scenario, ...]
    excluded: tuple[Excluded, ...] = ()
    search: SearchSpec | None = None  # a [search] sweep: scenarios are its combinations

    def __post_init__(self) -> None:
        if any(s.sweep != self.sweep for s in self.scenarios):
            raise UserInputError("a scenario belongs to another sweep", key="scenarios",
                                 fix=f"keep only scenarios of sweep {self.sweep!r}")

    @classmethod
    def of(cls, sweep: Sweep) -> Plan:
        return cls(sweep=sweep.name, source=sweep.source, description=sweep.description,
                   scenarios=tuple(sweep.scenarios), excluded=tuple(sweep.excluded),
                   search=sweep.search)

    def to_json(self) -> dict:
        search = {"search": asdict(self.search)} if self.search else {}
        return {"sweep": self.sweep, "source": self.source, "description": self.description,
                **search, "scenarios": [s.to_json() for s in self.scenarios],
                "excluded": [{"params": e.values, "reason": e.reason} for e in self.excluded]}

    def write(self, path: Path) -> None:
        write_json_atomic(Path(path), self.to_json())

    @classmethod
    def read(cls, path: Path) -> Plan:
        """The plan in `path`, validated; UserInputError naming what is wrong."""
        src = str(path)
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserInputError("no such plan file", source=src, fix=_FIX) from None
        except (OSError, ValueError) as e:
            raise UserInputError(f"not a readable JSON plan: {e}", source=src, fix=_FIX) from None
        if not isinstance(data, dict):
            raise UserInputError("is not a JSON object", source=src, fix=_FIX)
        scenarios = data.get("scenarios")
        if not isinstance(scenarios, list):
            raise UserInputError("has no \"scenarios\" list", source=src, key="scenarios",
                                 fix=_FIX)
        for key in ("sweep", "source", "description"):
            if not isinstance(data.get(key), str):
                raise UserInputError(f"\"{key}\" is missing or not a string", source=src,
                                     key=key, fix=_FIX)
        excluded, search = data.get("excluded", []), data.get("search")
        if search is not None and not isinstance(search, dict):
            raise UserInputError("\"search\" is not a table", source=src, key="search", fix=_FIX)
        try:
            return cls(sweep=data["sweep"], source=data["source"],
                       description=data["description"],
                       scenarios=tuple(_scenario(entry, i) for i, entry in enumerate(scenarios)),
                       excluded=tuple(Excluded(values=dict(e["params"]), reason=str(e["reason"]))
                                      for e in excluded),
                       search=SearchSpec(**search) if search is not None else None)
        except UserInputError as e:
            raise UserInputError(e.message, source=src, key=e.key, fix=e.fix) from None
        except (KeyError, TypeError, ValueError) as e:
            raise UserInputError(f"\"excluded\" is not a list of {{params, reason}}: {e}",
                                 source=src, key="excluded", fix=_FIX) from None

    def scenario(self, *, index: int | None = None, run_id: str | None = None) -> Scenario:
        """The scenario at position `index` (a Slurm array task id), or the one with `run_id`."""
        if index is not None:
            if not 0 <= index < len(self.scenarios):
                raise UserInputError(f"--index {index} is outside the plan's "
                                     f"{len(self.scenarios)} scenarios",
                                     fix=f"give 0 to {len(self.scenarios) - 1}")
            return self.scenarios[index]
        check_name(run_id, what="--run-id")
        found = next((s for s in self.scenarios if s.run_id == run_id), None)
        if found is None:
            raise UserInputError(f"no scenario with run_id {run_id}", key="--run-id",
                                 fix="take a run_id from `memsweep plan` of this sweep")
        return found


def read_scenario(path: Path, *, index: int | None = None,
                  run_id: str | None = None) -> Scenario:
    """The scenario at `index` or with `run_id` of the plan file `path` (what a worker runs)."""
    try:
        return Plan.read(path).scenario(index=index, run_id=run_id)
    except UserInputError as e:
        if e.source is not None:
            raise
        raise UserInputError(e.message, source=str(path), key=e.key, fix=e.fix) from None


def _scenario(entry: object, index: int) -> Scenario:
    if not isinstance(entry, dict):
        raise UserInputError(f"scenario {index} is not a JSON object", key="scenarios")
    try:
        return Scenario.from_json(entry)
    except UserInputError as e:
        raise UserInputError(f"scenario {index} is not valid: {e.message}", key=e.key,
                             fix=e.fix) from None
    except (KeyError, TypeError, ValueError) as e:
        raise UserInputError(f"scenario {index} is not valid: {e}", key="scenarios") from None
