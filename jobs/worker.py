"""The worker: one scenario of a plan on this process's rank; rank 0 writes the run's record.

    mpiexec -n WORLD_SIZE python -m jobs.worker --plan PLAN.json (--run-id ID | --index I)
        --out DIR [--attempt N]

(or one task per rank under srun, or torchrun). PLAN.json is `memsweep plan --format json`;
--index is the position in its "scenarios" (a Slurm array task id). Rank 0 writes
DIR/runs/<run_id>.json: status ok with measurements, or failed / oom with the reason
and the traceback's tail. A rank other than 0 that fails prints its traceback and
aborts the MPI job, after a grace period in which rank 0 (which usually fails too)
writes its record; if no rank could, the launcher writes it from the log.

Exit codes: 0 an ok record was written; 1 the run failed (failed/oom record, or none
if rank 0 could not write it); 2 bad arguments or plan (no record: no scenario known).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
import traceback
from pathlib import Path

from jobs import dist, measure, oom, ops
from jobs.fingerprint import fingerprint
from jobs.nodelist import scontrol_hostnames
from jobs.placement import placement
from jobs.rank_outcome import RankRun, classify
from jobs.ranks import Ranks, discover, launched_by_mpi
from jobs.record import failed_record, now, ok_record
from results.schema import RunRecord
from results.store import record_path, write_record
from suite.errors import MemsweepError, UserInputError
from suite.peak_model import named_allocations
from suite.plan import read_scenario
from suite.resolved import Resolved
from suite.scenario import Scenario
from suite.strategy_spec import RankContext

ABORT_GRACE_S = 5.0  # a failing rank > 0 waits this long for rank 0's record before aborting


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m jobs.worker", description=__doc__.split("\n")[0])
    p.add_argument("--plan", required=True, type=Path,
                   help="plan JSON (memsweep plan --format json)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--run-id", help="the scenario's run_id")
    which.add_argument("--index", type=int, help="the scenario's position in the plan")
    p.add_argument("--out", required=True, type=Path,
                   help="sweep output folder (records go to runs/)")
    p.add_argument("--attempt", type=int, default=1, help="how many times this run was started")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.attempt < 1:
            raise UserInputError(f"must be 1 or more, got {args.attempt}", key="--attempt")
        scenario = read_scenario(args.plan, run_id=args.run_id, index=args.index)
    except MemsweepError as e:
        print(f"worker: error: {e}", file=sys.stderr)
        return 2
    rank_runs()  # torch loads here: before the run's clock starts, as when it loaded with us
    started = now()
    comm = dist.mpi_comm() if launched_by_mpi(os.environ) else None
    return run(scenario, comm, out=args.out, attempt=args.attempt, started=started)


def run(scenario: Scenario, comm, *, out: Path, attempt: int, started) -> int:
    ranks, path, cap = None, None, None
    try:
        resolved = scenario.resolve()  # once: every hook and the rank read this
        work = resolved.workload
        ranks = discover(os.environ, comm, expand_nodelist=scontrol_hostnames)
        if ranks.world_size != work.world_size:
            raise RuntimeError(
                f"scenario {scenario.run_id} needs world_size {work.world_size} but the "
                f"launcher ({ranks.source}) started {ranks.world_size} rank(s): start it with "
                f"mpiexec -n {work.world_size} (or srun --ntasks {work.world_size})")
        # Before anything loads an op or caps memory: a run never compiles one (jobs/ops.py).
        dist.use_installation(work.device)
        ops.require(scenario.values)
        addr, port = dist.rendezvous(ranks, comm)
        _say(ranks, f"worker: run {scenario.run_id} of sweep {scenario.sweep}, "
                    f"{ranks.world_size} rank(s) via {ranks.source}, store {addr}:{port}")
        dist.init(ranks, device=work.device, addr=addr, port=port,
                  timeout_s=scenario.settings.timeout_s)
        run_kind = rank_runs()[work.kind]
        cap = oom.apply_host_cap(scenario.settings.host_mem_cap)  # before the model is built
        ctx = start_rank(resolved, ranks)
        outcomes = dist.gather(run_kind(resolved, ranks, ctx), ranks, comm)
        if ranks.rank == 0:
            info = {**fingerprint(device=work.device), "launcher": ranks.source,
                    "optimizer_impl": outcomes[0].optimizer_impl, "torch_threads": _threads(),
                    **placement([o.metrics for o in outcomes])}
            path = write_record(out, ok_record(scenario, outcomes, attempt=attempt,
                                               started=started, fingerprint=info))
    except Exception as error:  # every failure becomes a record
        reached = oom.data_bytes()  # before anything else allocates
        oom.lift_host_cap()  # what follows must not fail for want of memory too
        return _fail(error, scenario, ranks, comm, out=out, attempt=attempt, started=started,
                     host_cap=cap, host_reached=reached)
    if path:  # outside the try: nothing after the ok record may replace it with a failed one
        _say(ranks, f"worker: ok, record {path}")
    try:
        dist.teardown()
    except Exception:  # the record is written; a teardown hiccup does not undo it
        traceback.print_exc()
    return 0


def rank_runs() -> dict[str, RankRun]:
    """One RankRun per scenario kind: training (train, distill: a DeepSpeed engine) or
    inference (no_grad forward passes)."""
    # Both load torch and torch._dynamo (seconds per rank): late, so that a bad command line
    # or plan exits 2 without paying for them; deepspeed loads only once a run starts.
    from jobs.inference import infer  # heavy: torch, late as said above
    from jobs.train import train  # heavy: torch, late as said above

    return {"train": train, "distill": train, "inference": infer}


def start_rank(run: Resolved, ranks: Ranks) -> RankContext:
    """The rank's set-up once its process group is up, common to every kind: its share of the
    cores, its RankContext, the strategies' process set-up (allocator settings, ...)."""
    import torch  # heavy: loaded late, in the rank only

    from jobs import hooks  # heavy: loads torch, late as above

    if run.workload.device == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        # Each rank its share of the cores it may run on, as torchrun does: torch would start a
        # thread per core in every rank, and ranks sharing a node would fight over them.
        torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) // (ranks.local_size or 1)))
    ctx = hooks.context(run, ranks)
    hooks.prepare(run, ctx)
    if torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1:
        # prepare is per node (local rank 0 clears what an earlier attempt left, e.g. the run's
        # NVMe folder): no rank may create files there before that is done.
        torch.distributed.barrier()
    return ctx


def _fail(error: BaseException, scenario: Scenario, ranks: Ranks | None, comm, *, out: Path,
          attempt: int, started, host_cap: int | None = None,
          host_reached: int | None = None) -> int:
    text = traceback.format_exc()
    rank = ranks.rank if ranks else (comm.Get_rank() if comm is not None else
                                     int(os.environ.get("RANK") or os.environ.get("SLURM_PROCID")
                                         or 0))
    print(f"worker: rank {rank} failed:\n{text}", file=sys.stderr, flush=True)
    info = None
    if classify(error) == "oom":
        info = oom.oom_info(error, rank=rank, phase=measure.current_phase(),
                            device=scenario.workload.device, host_cap=host_cap,
                            host_reached=host_reached, allocations=_allocations(scenario))
        print(f"worker: rank {rank} out of memory: {info}", file=sys.stderr, flush=True)
    if rank != 0 and comm is not None:
        time.sleep(ABORT_GRACE_S)  # rank 0 usually fails too: let it write the record first
    # Rank 0 writes the record; a rank that ran out of memory alone (rank 0 then waits in a
    # collective) writes it when rank 0 has not, so that the run is `oom`, not a crash.
    if rank == 0 or (info is not None and not _recorded(out, scenario, attempt)):
        _write_failed(error, text, scenario, ranks, out=out, attempt=attempt, started=started,
                      oom_at=info)
    if comm is not None and comm.Get_size() > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        comm.Abort(1)  # ranks still waiting in a collective would otherwise hang
    return 1


def _write_failed(error: BaseException, text: str, scenario: Scenario, ranks: Ranks | None, *,
                  out: Path, attempt: int, started, oom_at) -> None:
    try:
        info = {**fingerprint(device=scenario.workload.device),
                "launcher": ranks.source if ranks else None}
        record = failed_record(scenario, error, text, attempt=attempt, started=started,
                               fingerprint=info, oom=oom_at)
        print(f"worker: {record.status}, record {write_record(out, record)}", flush=True)
    except Exception:  # the launcher writes the record from the log
        traceback.print_exc()


def _allocations(scenario: Scenario) -> dict[str, int]:
    try:
        return named_allocations(dict(scenario.values))
    except Exception:  # naming the allocation must not cost the record
        traceback.print_exc()
        return {}


def _recorded(out: Path, scenario: Scenario, attempt: int) -> bool:
    """Rank 0 has written this attempt's record."""
    try:
        return RunRecord.from_json(json.loads(record_path(out, scenario.run_id).read_bytes())
                                   ).attempt == attempt
    except (OSError, ValueError):
        return False


def _threads() -> str | None:
    import torch  # heavy: loaded late, in the rank only

    return str(torch.get_num_threads())


def _say(ranks: Ranks, line: str) -> None:
    if ranks.rank == 0:
        print(line, flush=True)


def exit_quickly(code: int) -> int:
    """`code`, once the interpreter's shutdown is made cheap: Python's last full collection
    would walk every object torch, torch._dynamo and DeepSpeed made (2-9 s per rank measured,
    CPU-bound, after the record is written and counted in every run's wall time). Frozen
    objects are skipped; atexit handlers (MPI_Finalize among them) still run."""
    gc.freeze()
    return code


if __name__ == "__main__":
    raise SystemExit(exit_quickly(main()))
