"""One scenario: a point of the sweep matrix plus the run settings, and its stable run_id."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from types import MappingProxyType

from suite.axes import AXES
from suite.errors import UserInputError
from suite.models import model_spec
from suite.names import check_name
from suite.resolved import Resolved, Workload
from suite.run_settings import RunSettings
from suite.strategies import active, effective

DEFAULT_SETTINGS = RunSettings()  # frozen: one shared instance is safe


# The axes run_ids were first computed over; see Scenario.hashed_params.
FIRST_AXES = ("model", "world_size", "micro_batch", "seq_len", "grad_accum", "device", "kind",
              "deepspeed_base", "zero_stage", "offload_optimizer", "offload_param", "nvme_path",
              "checkpoint_every", "precision", "optimizer", "overlap_comm", "prefetch_bucket",
              "pin_memory", "pruning", "quantize", "teacher", "compression", "cuda_alloc_conf")


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
                    settings: RunSettings = DEFAULT_SETTINGS) -> Scenario:
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
        return Resolved(run_id=self.run_id, sweep=self.sweep, settings=self.settings,
                        workload=Workload.of(values), values=MappingProxyType(values),
                        model=model_spec(values["model"]),
                        active=tuple(s.name for s in active(self.values)))

    @property
    def run_id(self) -> str:
        """Hash of (sweep, parameters, settings, repetition): stable across machines and runs."""
        blob = json.dumps({"sweep": self.sweep, "params": self.hashed_params(),
                           "settings": self.settings.hashed(), "repetition": self.repetition},
                          sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def hashed_params(self) -> dict:
        """The values that name a run: every axis of the first catalogue always, an axis added
        later only away from its default (strategy off), so that adding a strategy keeps every
        earlier sweep's run_ids, and with them the nightly history's matches."""
        return {k: v for k, v in self.values.items()
                if k in FIRST_AXES or v != AXES[k].default}

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
