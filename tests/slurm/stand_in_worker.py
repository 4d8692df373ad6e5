"""A stand-in for jobs.worker in the executor's tests: its command line, real MPI, real records.

    mpiexec -n N python stand_in_worker.py --plan PLAN --run-id ID --out DIR --attempt A

STAND_IN_BEHAVIOUR is a comma list, one behaviour per scenario of the plan (by position;
missing ones are `ok`):

    ok         rank 0 writes an ok record (with the environment the ranks saw); exit 0
    fail       rank 0 writes a failed record itself; exit 1
    crash      rank 1 (or 0 alone) prints a traceback and aborts the MPI job; no record
    killed     the last rank SIGKILLs itself; no record
    hang       every rank sleeps forever
    hang-hard  like hang, ignoring SIGTERM (only SIGKILL ends it)
    stale      rank 0 writes a record of this attempt started an hour ago, then crashes
    silent     exits 0 without a record
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import traceback
from datetime import datetime, timedelta, timezone
from pathlib import Path

from mpi4py import MPI

from results.schema import Measurements, RunRecord, replace
from results.store import write_record

HOUR = timedelta(hours=1)
ENV_SEEN = ("DS_ACCELERATOR", "OMP_NUM_THREADS", "PYTHONUNBUFFERED")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--plan", required=True, type=Path)
    p.add_argument("--run-id", required=True)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--attempt", type=int, default=1)
    args = p.parse_args()
    started = datetime.now(timezone.utc)
    scenarios = json.loads(args.plan.read_text())["scenarios"]
    index = next(i for i, s in enumerate(scenarios) if s["run_id"] == args.run_id)
    wanted = os.environ.get("STAND_IN_BEHAVIOUR", "").split(",")
    behaviour = (wanted[index] if index < len(wanted) else "") or "ok"
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    print(f"stand-in: rank {rank} of {size}, pid {os.getpid()}: {behaviour}", flush=True)

    def record(status: str, attempt: int, **extra) -> RunRecord:
        now = datetime.now(timezone.utc)
        return RunRecord(run_id=args.run_id, attempt=attempt, status=status,
                         sweep=scenarios[index]["sweep"], scenario=scenarios[index],
                         started_at=started.isoformat(), finished_at=now.isoformat(),
                         duration_s=(now - started).total_seconds(), **extra)

    if behaviour == "ok":
        comm.Barrier()
        if rank == 0:
            m = Measurements(step_times_s=(0.1,), step_time_s=0.1, step_time_iqr_s=0.0,
                             samples_per_s=10.0, tokens_per_s=640.0, final_loss=1.0)
            env = {k: os.environ.get(k) for k in ENV_SEEN}
            write_record(args.out, record("ok", args.attempt, measurements=m,
                                          fingerprint={"env": env, "world_size": size}))
        return 0
    if behaviour == "fail":
        if rank == 0:
            write_record(args.out, record("failed", args.attempt, reason="stand-in failed"))
        comm.Barrier()
        return 1
    if behaviour in ("crash", "stale"):
        if behaviour == "stale" and rank == 0:  # this attempt's number, but from long ago
            old = record("failed", args.attempt, reason="stale")
            write_record(args.out, replace(old, started_at=(started - HOUR).isoformat()))
        if rank == min(1, size - 1):
            try:
                raise RuntimeError("stand-in crashed on purpose")
            except RuntimeError:
                traceback.print_exc()
            sys.stdout.flush()
            sys.stderr.flush()
            # As jobs.worker does: hydra drops output still in its pipes once MPI_Abort lands.
            time.sleep(0.5)
            comm.Abort(1)
        time.sleep(60)  # the abort ends this rank
        return 1
    if behaviour == "killed":
        if rank == size - 1:
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(60)
        return 1
    if behaviour in ("hang", "hang-hard"):
        if behaviour == "hang-hard":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print(f"stand-in: rank {rank} hanging", flush=True)
        while True:
            time.sleep(1)
    if behaviour == "silent":
        return 0
    print(f"stand-in: unknown behaviour {behaviour!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
