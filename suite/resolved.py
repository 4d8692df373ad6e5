"""A scenario resolved once for the rank and the strategies' hooks: `Scenario.resolve()`.

What a hook reads, worked out before any hook runs: the workload typed (no str()/int()
casts), every axis value with the presets' implied values filled in, the model's spec,
and the strategies the scenario switches on. A `Resolved` is also a read-only mapping
of those effective axis values, so code that reads values by name (rules, memory
terms, helpers shared with them) takes either.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields

from suite.models import ModelSpec
from suite.run_settings import RunSettings


@dataclass(frozen=True, kw_only=True)
class Workload:
    """The workload axes (suite/axes.py), typed: what is run, on how many ranks, where."""

    model: str  # a catalogue size (suite/models.py)
    world_size: int  # ranks
    micro_batch: int  # sequences per rank per micro-step
    seq_len: int  # tokens per sequence
    grad_accum: int  # micro-steps per optimizer step
    device: str  # "cpu" or "cuda"
    kind: str  # "train", "inference" or "distill"
    deepspeed_base: str  # the user's DeepSpeed JSON, "" for none

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if type(value).__name__ != f.type:
                raise ValueError(f"workload axis {f.name}: expected {f.type}, got "
                                 f"{type(value).__name__} {value!r}: build it from a validated "
                                 f"Scenario (Scenario.workload)")

    @classmethod
    def of(cls, values: Mapping[str, object]) -> Workload:
        return cls(**{f.name: values[f.name] for f in fields(cls)})


@dataclass(frozen=True, kw_only=True, eq=False)
class Resolved(Mapping[str, object]):
    """One scenario, resolved: build it with `Scenario.resolve()`."""

    run_id: str
    sweep: str
    settings: RunSettings
    workload: Workload
    values: Mapping[str, object]  # every axis, presets' implied values filled in (read-only)
    model: ModelSpec  # the spec of workload.model
    active: tuple[str, ...]  # names of the strategies it switches on, in catalogue order

    def __post_init__(self) -> None:
        if self.model.name != self.workload.model:
            raise ValueError(f"model spec {self.model.name} is not the workload's "
                             f"{self.workload.model}: build it with Scenario.resolve()")

    def __getitem__(self, axis: str) -> object:
        return self.values[axis]

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)
