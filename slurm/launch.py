"""The command and environment that start one scenario's ranks on this machine (pure).

    mpiexec -n WORLD_SIZE PYTHON -m jobs.worker --plan PLAN --run-id ID --out DIR --attempt N

Nothing here runs anything, so `--dry-run` prints exactly what a run would start.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from suite.names import check_name

# What follows PYTHON on the command line. Tests pass a stand-in script instead.
WORKER: tuple[str, ...] = ("-m", "jobs.worker")


@dataclass(frozen=True, kw_only=True)
class Launch:
    argv: tuple[str, ...]
    env: dict[str, str]  # set on top of the caller's environment

    def shell(self) -> str:
        """The launch as one shell line, every value quoted (what --dry-run prints)."""
        return shlex.join([*(f"{k}={v}" for k, v in self.env.items()), *self.argv])


def build_launch(*, mpiexec: str, python: str, world_size: int, device: str, plan: Path,
                 run_id: str, out: Path, attempt: int, cores: int,
                 environ: Mapping[str, str], worker: Sequence[str] = WORKER) -> Launch:
    check_name(run_id, what="run_id")  # it reaches a command line
    if world_size < 1 or attempt < 1 or cores < 1:
        raise ValueError(f"world_size {world_size}, attempt {attempt} and cores {cores} "
                         f"must all be 1 or more")
    argv = (mpiexec, "-n", str(world_size), python, *worker, "--plan", str(plan),
            "--run-id", run_id, "--out", str(out), "--attempt", str(attempt))
    return Launch(argv=argv, env=rank_env(device=device, ranks=world_size, cores=cores,
                                          environ=environ))


def rank_env(*, device: str, ranks: int, cores: int, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables the ranks need beyond the caller's environment (which mpiexec passes on)."""
    env = {"PYTHONUNBUFFERED": "1"}  # the log then shows how far a hung or killed rank got
    if device == "cpu":
        env["DS_ACCELERATOR"] = "cpu"  # DeepSpeed would otherwise probe for CUDA and fail
    if "OMP_NUM_THREADS" not in environ:
        # Ranks sharing the cores: more threads than cores makes every rank slower and noisier.
        env["OMP_NUM_THREADS"] = str(max(1, cores // ranks))
    return env
