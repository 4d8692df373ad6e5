"""stand_in_worker.py plus what the Slurm fault tests need (same command line):

    hog    the last rank allocates memory until the kernel's OOM killer ends it (--mem)
    ok     as stand_in_worker's, plus each rank's metrics and the fingerprint, as the
           real worker's (the report draws them, by partition)

Every other behaviour is stand_in_worker's (fail, crash, killed, hang, ...).
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

import stand_in_worker  # noqa: E402  (found through the line above when run as a script)

from jobs.fingerprint import fingerprint  # noqa: E402
from results.schema import Measurements, RankMetrics, RunRecord  # noqa: E402
from results.store import write_record  # noqa: E402

CHUNK = 32 * 2**20


def behaviour(argv: list[str]) -> str:
    plan = Path(argv[argv.index("--plan") + 1])
    run_id = argv[argv.index("--run-id") + 1]
    ids = [s["run_id"] for s in json.loads(plan.read_text())["scenarios"]]
    wanted = os.environ.get("STAND_IN_BEHAVIOUR", "").split(",")
    index = ids.index(run_id)
    return (wanted[index] if index < len(wanted) else "") or "ok"


def hog() -> int:
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    print(f"stand-in: rank {rank} of {size}, pid {os.getpid()}: hog", flush=True)
    if rank == size - 1:
        held = []
        while True:  # touch every page: only resident memory counts against the cgroup
            block = bytearray(CHUNK)
            block[::4096] = b"\1" * (CHUNK // 4096)
            held.append(block)
    time.sleep(120)
    return 1


def ok(argv: list[str]) -> int:
    from mpi4py import MPI

    started = datetime.now(timezone.utc)
    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    print(f"stand-in: rank {rank} of {comm.Get_size()}, pid {os.getpid()}: ok", flush=True)
    mine = RankMetrics(rank=rank, hostname=os.uname().nodename, params_bytes=4096,
                       grads_bytes=4096, master_params_bytes=0, optimizer_state_bytes=8192,
                       peak_host_rss_bytes=psutil.Process().memory_info().rss,
                       step_time_s=0.1)
    ranks = comm.gather(mine, root=0)
    if rank == 0:
        plan = Path(argv[argv.index("--plan") + 1])
        run_id = argv[argv.index("--run-id") + 1]
        scenario = next(s for s in json.loads(plan.read_text())["scenarios"]
                        if s["run_id"] == run_id)
        now = datetime.now(timezone.utc)
        m = Measurements(step_times_s=(0.1, 0.1), step_time_s=0.1, step_time_iqr_s=0.0,
                         samples_per_s=20.0, tokens_per_s=1280.0, final_loss=1.0)
        record = RunRecord(run_id=run_id, attempt=int(argv[argv.index("--attempt") + 1]),
                           status="ok", sweep=scenario["sweep"], scenario=scenario,
                           started_at=started.isoformat(), finished_at=now.isoformat(),
                           duration_s=(now - started).total_seconds(), measurements=m,
                           ranks=tuple(ranks),
                           fingerprint={**fingerprint(device="cpu"), "launcher": "mpi"})
        write_record(Path(argv[argv.index("--out") + 1]), record)
    return 0


def main() -> int:
    wanted = behaviour(sys.argv)
    if wanted == "hog":
        return hog()
    if wanted == "ok":
        return ok(sys.argv)
    return stand_in_worker.main()


if __name__ == "__main__":
    raise SystemExit(main())
