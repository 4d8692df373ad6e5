"""Hardware profiles: per-partition defaults in TOML, so a nightly job names only its profile.

    [profile]
    name = "h100"               # goes into every record (records carry the partition too)
    partition = "gpu-h100"
    account = "ml-bench"         # optional, as are qos, mem, gpus_per_node ...
    time = "02:00:00"
    cpus_per_task = 8
    gpus_per_node = 4
    mem = "200G"
    max_parallel = 4
    [profile.peak_tflops]        # dense peak per dtype, for MFU
    bf16 = 989.0
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

from slurm.sbatch import check_mem, check_time
from suite.errors import UserInputError
from suite.names import check_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True, kw_only=True)
class Profile:
    name: str = "default"
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time: str = "01:00:00"
    nodes: int | None = None  # None: as many as the largest world size needs
    tasks_per_node: int | None = None
    cpus_per_task: int = 1
    gpus_per_node: int = 0
    mem: str | None = None
    max_parallel: int | None = None
    peak_tflops: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name(self.name, what="profile.name")
        for key in ("partition", "account", "qos"):
            if getattr(self, key) is not None:
                check_name(getattr(self, key), what=f"profile.{key}")
        check_time(self.time, key="profile.time")
        if self.mem is not None:
            check_mem(self.mem, key="profile.mem")
        for key in ("nodes", "tasks_per_node", "cpus_per_task", "gpus_per_node", "max_parallel"):
            v = getattr(self, key)
            if v is not None and (type(v) is not int or v < (0 if key == "gpus_per_node" else 1)):
                raise UserInputError(f"must be a positive integer, got {v!r}",
                                     key=f"profile.{key}")
        for dtype, v in self.peak_tflops.items():
            if type(v) not in (int, float) or v <= 0:
                raise UserInputError(f"must be a positive number, got {v!r}",
                                     key=f"profile.peak_tflops.{dtype}",
                                     fix="write the vendor's dense peak in TFLOP/s, e.g. 989.0")

    def merged(self, **overrides: object) -> Profile:
        """This profile with the command line's non-None options on top."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return Profile(**values)


def load_profile(path: str | Path) -> Profile:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError("no such profile file", source=str(path),
                             fix="see slurm/profiles/ for examples") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UserInputError(f"not valid TOML: {e}", source=str(path)) from None
    table = data.get("profile")
    if set(data) != {"profile"} or not isinstance(table, dict):
        raise UserInputError("a profile file holds exactly one [profile] table",
                             source=str(path), key="profile")
    known = {f.name for f in fields(Profile)}
    if unknown := sorted(set(table) - known):
        raise UserInputError("unknown key", source=str(path), key=f"profile.{unknown[0]}",
                             fix=f"known keys: {', '.join(sorted(known))}")
    try:
        return Profile(**table)
    except UserInputError as e:
        raise UserInputError(str(e), source=str(path)) from None
