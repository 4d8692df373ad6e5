"""How each scenario of a sweep is measured: the `[sweep]` table's run settings."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from suite.errors import UserInputError
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
