"""One scenario: a point of the sweep matrix plus the run settings, and its stable run_id."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from types import MappingProxyType

from suite.axes import AXES
from suite.errors import UserInputError
from suite.models import model_spec
from suite.names import check_name
from suite.resolved import Resolved, Workload
from suite.strategies import active, effective
from suite.units import parse_bytes


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    """How each scenario of a sweep is measured (the `[sweep]` table)."""

    warmup_steps: int = 2
    timed_steps: int = 5
    seed: int = 1234
    timeout_s: int = 900  # a run still going after this is stopped and recorded `timeout`
    # Timed steps go on past timed_steps until their median settles, at most this many
    # (0: exactly timed_steps). jobs/measure.py has the rule.
    max_timed_steps: int = 0
    # Each rank's allocations are capped at this (e.g. "4GiB"; RLIMIT_DATA, jobs/oom.py): a
    # scenario that needs more ends `oom` instead of the kernel killing it. "" for no cap.
    host_mem_cap: str = ""

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "host_mem_cap":
                if type(v) is not str or (v and parse_bytes(v, key=f.name) <= 0):
                    raise UserInputError(f"must be a size such as \"4GiB\", got {v!r}",
                                         key=f.name, fix='write e.g. host_mem_cap = "4GiB"')
                continue
            if type(v) is not int or v < (0 if f.name in _MAY_BE_0 else 1):
                raise UserInputError(f"must be a positive integer, got {v!r}", key=f.name,
                                     fix=f"write e.g. {f.name} = {f.default}")
        if 0 < self.max_timed_steps < self.timed_steps:
            raise UserInputError(f"{self.max_timed_steps} is below timed_steps "
                                 f"{self.timed_steps}", key="max_timed_steps",
                                 fix="make it at least timed_steps, or 0 for a fixed count")

    def hashed(self) -> dict:
        """The settings that name a run: the first four always, a later one only where set,
        so that adding a setting keeps every earlier sweep's run_ids."""
        return {k: v for k, v in asdict(self).items()
                if k in _FIRST or v != RunSettings.__dataclass_fields__[k].default}


_FIRST = ("warmup_steps", "timed_steps", "seed", "timeout_s")
_MAY_BE_0 = ("warmup_steps", "seed", "max_timed_steps")


@dataclass(frozen=True, kw_only=True)
class Scenario:
    sweep: str
    params: tuple[tuple[str, object], ...]  # (axis, value) for every axis, in AXES order
    repetition: int = 0
    settings: RunSettings = RunSettings()

    def __post_init__(self) -> None:
        check_name(self.sweep, what="sweep name")
        names = [k for k, _ in self.params]
        if names != list(AXES):
            raise ValueError(f"scenario params must list every axis in order, got {names}")
        for key, value in self.params:
            if why := AXES[key].problem(value):
                raise UserInputError(why, key=key)

    @classmethod
    def from_values(cls, *, sweep: str, values: dict, repetition: int = 0,
                    settings: RunSettings = RunSettings()) -> Scenario:
        params = tuple((name, values.get(name, axis.default)) for name, axis in AXES.items())
        return cls(sweep=sweep, params=params, repetition=repetition, settings=settings)

    def __getitem__(self, key: str) -> object:
        return dict(self.params)[key]

    @property
    def values(self) -> dict[str, object]:
        return dict(self.params)

    @property
    def workload(self) -> Workload:
        """The workload axes, typed (presets set strategy axes only)."""
        return Workload.of(self.values)

    def resolve(self) -> Resolved:
        """This scenario resolved once for the rank and the hooks: the typed workload, every
        axis with the presets' values filled in, the model's spec, the strategies on."""
        values = effective(self.values)
        return Resolved(scenario=self, workload=Workload.of(values),
                        values=MappingProxyType(values), model=model_spec(values["model"]),
                        active=tuple(active(self.values)))

    @property
    def run_id(self) -> str:
        """Hash of (sweep, parameters, settings, repetition): stable across machines and runs."""
        blob = json.dumps({"sweep": self.sweep, "params": self.values,
                           "settings": self.settings.hashed(), "repetition": self.repetition},
                          sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def to_json(self) -> dict:
        return {"run_id": self.run_id, "sweep": self.sweep, "repetition": self.repetition,
                "params": self.values, "settings": asdict(self.settings)}

    @classmethod
    def from_json(cls, data: dict) -> Scenario:
        scenario = cls.from_values(sweep=data["sweep"], values=data["params"],
                                   repetition=data["repetition"],
                                   settings=RunSettings(**data["settings"]))
        if "run_id" in data and data["run_id"] != scenario.run_id:
            raise ValueError(f"run_id {data['run_id']} does not match its parameters")
        return scenario
