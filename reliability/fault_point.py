"""A signal to one rank of the real worker at a chosen point of a chosen step, for the fault
campaign (reliability/slurm_cases.py). memsweep's own runs never load this.

The campaign's shim folder (reliability/shim.py) makes `python -m jobs.worker` arm this
first, then run the real jobs.worker. A step lasts tens of milliseconds here: no observer
outside the rank can hit its backward pass on purpose, so the rank signals itself there.
The signal is real (SIGKILL cannot be caught; SIGSTOP cannot be ignored); nothing else of
the run changes. MEMSWEEP_FAULT_POINT (JSON) says where, per run_id:

    {"<run_id>": {"rank": 1, "point": "backward", "step": 3, "signal": "SIGKILL"}}

point: forward (the engine's forward begins), backward (engine.backward begins) or step
(the optimizer step begins); step counts the engine's forward calls from 1 (warm-up included).
Before the signal the rank prints `fault-point: rank R pid P SIGNAL in POINT of step K`.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from dataclasses import dataclass

FAULT_ENV = "MEMSWEEP_FAULT_POINT"
POINTS = ("forward", "backward", "step")
SIGNALS = ("SIGKILL", "SIGTERM", "SIGSTOP")
RANK_ENV = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID")


@dataclass(frozen=True, kw_only=True)
class FaultPoint:
    rank: int
    point: str
    step: int
    signal: str

    def __post_init__(self) -> None:
        if self.point not in POINTS:
            raise ValueError(f"{FAULT_ENV}: point {self.point!r}: give one of {POINTS}")
        if self.signal not in SIGNALS:
            raise ValueError(f"{FAULT_ENV}: signal {self.signal!r}: give one of {SIGNALS}")
        if self.rank < 0 or self.step < 1:
            raise ValueError(f"{FAULT_ENV}: rank {self.rank}, step {self.step}: give a rank "
                             f">= 0 and a step >= 1")

    def line(self, pid: int) -> str:
        return f"fault-point: rank {self.rank} pid {pid} {self.signal} in {self.point} " \
               f"of step {self.step}"


def wanted(argv: list[str], environ=os.environ) -> FaultPoint | None:
    """This rank's fault point, if the campaign set one for this run and rank."""
    given = json.loads(environ.get(FAULT_ENV) or "{}")
    run_id = argv[argv.index("--run-id") + 1] if "--run-id" in argv else None
    rank = next((int(environ[k]) for k in RANK_ENV if k in environ), None)
    mine = given.get(run_id) if run_id else None
    if not mine or rank is None or int(mine["rank"]) != rank:
        return None
    return FaultPoint(**mine)


def arm(argv: list[str] | None = None) -> FaultPoint | None:
    """Wrap DeepSpeed's engine so that this rank signals itself at its fault point."""
    point = wanted(sys.argv if argv is None else argv)
    if point is None:
        return None
    from deepspeed.runtime.engine import DeepSpeedEngine  # heavy: only in an armed rank

    forwards = [0]

    def wrap(name: str):
        original = getattr(DeepSpeedEngine, name)

        def wrapped(self, *args, **kwargs):
            if name == "forward":
                forwards[0] += 1
            if name == point.point and forwards[0] == point.step:
                print(point.line(os.getpid()), flush=True)
                os.kill(os.getpid(), getattr(signal, point.signal))
            return original(self, *args, **kwargs)

        setattr(DeepSpeedEngine, name, wrapped)

    for name in POINTS:
        wrap(name)
    return point
