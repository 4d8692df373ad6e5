"""A stand-in for jobs.worker in the fault campaign: the same command line and records, no model.

    mpiexec -n N python -m reliability.stand_in --plan PLAN --run-id ID --out DIR --attempt A

Every rank runs `steps` steps of `step_s` seconds, each ending in an MPI barrier (so a
dead or stopped peer leaves the others waiting in a collective, as in training) and
prints `stand-in: rank R pid P step K`; rank 0 then writes an ok record through
results.store. It costs no CPU while waiting and starts in about a second, so the
campaign can inject many faults; `memsweep faults` runs a few against jobs.worker too.

MEMSWEEP_STAND_IN (JSON) sets the steps; an entry under a run_id overrides them for
that run:

    {"steps": 20, "step_s": 0.05, "<run_id>": {"steps": 600, "crash_at": 3, "pad_bytes": 0}}

crash_at K: the last rank raises at step K (a worker crash: traceback, then MPI_Abort, as
jobs.worker ends). hog_at K: the last rank allocates (and touches) memory from step K on
until the kernel's OOM killer ends it: under a memory limit, a scenario that does not fit.
pad_bytes: that much log text in the ok record, so that writing it takes a while. Every
other fault comes from outside: signals to the ranks, files in DIR.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from results.schema import Measurements, RunRecord
from results.store import write_record

CONFIG_ENV = "MEMSWEEP_STAND_IN"
DEFAULTS = {"steps": 20, "step_s": 0.05, "crash_at": None, "hog_at": None, "pad_bytes": 0}
HOG_CHUNK = 16 * 2**20


def config(run_id: str, environ=os.environ) -> dict:
    given = json.loads(environ.get(CONFIG_ENV) or "{}")
    own = given.get(run_id, {})
    return {k: own.get(k, given.get(k, v)) for k, v in DEFAULTS.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m reliability.stand_in")
    p.add_argument("--plan", required=True, type=Path)
    p.add_argument("--run-id", required=True)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--attempt", type=int, default=1)
    args = p.parse_args(argv)
    started = datetime.now(timezone.utc)
    scenario = next(s for s in json.loads(args.plan.read_text())["scenarios"]
                    if s["run_id"] == args.run_id)
    cfg = config(args.run_id)
    # deliberately late: importing mpi4py starts MPI, and the campaign imports this module
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    times = []
    for step in range(1, cfg["steps"] + 1):
        print(f"stand-in: rank {rank} pid {os.getpid()} step {step}", flush=True)
        t = time.monotonic()
        time.sleep(cfg["step_s"])
        if step == cfg["crash_at"] and rank == size - 1:
            return _crash(comm, step)
        if step == cfg["hog_at"] and rank == size - 1:
            _hog()
        barrier = comm.Ibarrier()
        while not barrier.Test():  # a peer that died or stopped keeps us here
            time.sleep(0.01)
        times.append(time.monotonic() - t)
    if rank == 0:
        print("stand-in: rank 0 writing its record", flush=True)
        write_record(args.out, _ok(scenario, args.attempt, started, times, size,
                                   pad=cfg["pad_bytes"]))
        print("stand-in: rank 0 wrote its record", flush=True)
    return 0


def _crash(comm, step: int) -> int:
    try:
        raise RuntimeError(f"stand-in crashed on purpose at step {step}")
    except RuntimeError:
        traceback.print_exc()
    sys.stdout.flush()
    sys.stderr.flush()
    time.sleep(0.5)  # as jobs.worker: hydra drops output still in its pipes once MPI_Abort lands
    comm.Abort(1)
    return 1


def _hog() -> None:
    print(f"stand-in: pid {os.getpid()} allocating until the OOM killer ends it", flush=True)
    held = []
    while True:  # every page written: only resident memory counts against a memory limit
        held.append(b"\1" * HOG_CHUNK)


def _ok(scenario: dict, attempt: int, started: datetime, times: list[float], size: int, *,
        pad: int) -> RunRecord:
    now = datetime.now(timezone.utc)
    median = sorted(times)[len(times) // 2] if times else 0.0
    m = Measurements(step_times_s=tuple(times), step_time_s=median, step_time_iqr_s=0.0,
                     samples_per_s=size / median if median else 0.0, tokens_per_s=0.0,
                     final_loss=1.0)
    return RunRecord(run_id=scenario["run_id"], attempt=attempt, status="ok",
                     sweep=scenario["sweep"], scenario=scenario, started_at=started.isoformat(),
                     finished_at=now.isoformat(), duration_s=(now - started).total_seconds(),
                     measurements=m, fingerprint={"worker": "reliability.stand_in"},
                     log_tail="x" * pad if pad else None)


if __name__ == "__main__":
    raise SystemExit(main())
