"""`memsweep` faults, bench-report, bench-harness: the self-tests shipped to users."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench import harness, runtime_floor, search_cost
from reliability import slurm_campaign
from reliability.campaign import campaign
from suite.errors import UserInputError


def _cmd_bench_report(args) -> int:
    # pandas/matplotlib/torch load late: `plan` and `run` need not pay for them
    from bench.report_scale import run

    if min(args.records) < 1 or args.repeat < 1:
        raise UserInputError("must be 1 or more", key="--records" if min(args.records) < 1
                             else "--repeat")
    return run(tuple(args.records), args.keep, args.repeat)


def _cmd_bench_harness(args) -> int:
    for key in ("world_size", "steps", "reps"):
        if getattr(args, key) < 1:
            raise UserInputError(f"must be 1 or more, got {getattr(args, key)}",
                                 key=f"--{key.replace('_', '-')}")
    harness.bench(model=args.model, world_size=args.world_size, zero_stage=args.zero_stage,
          steps=args.steps, warmup=args.warmup, reps=args.reps,
          out=Path(args.out) if args.out else None)
    return 0


def _cmd_bench_aa(args) -> int:
    # pandas/matplotlib/torch load late: `plan` and `run` need not pay for them
    from bench.aa import run

    if args.repetitions < 1:
        raise UserInputError(f"must be 1 or more, got {args.repetitions}", key="--repetitions")
    return run(Path(args.sweep), repetitions=args.repetitions, out=Path(args.out))


def _cmd_faults(args) -> int:
    out = Path(args.out) if args.out else None
    if args.slurm:
        if args.deepspeed is not None:
            raise UserInputError("--deepspeed is for the local campaign", key="--deepspeed",
                                 fix="leave it out with --slurm: its real-worker cases come "
                                     "with --faults")
        return slurm_campaign.campaign(faults=args.faults, seed=args.seed, out=out)
    return campaign(faults=24 if args.faults is None else args.faults,
                    deepspeed=args.deepspeed, seed=args.seed, out=out)


def _cmd_bench_search(args) -> int:
    return search_cost.run(Path(args.sweep), Path(args.out))


def _cmd_bench_runtime(args) -> int:
    return runtime_floor.run(Path(args.sweep), args.models, Path(args.out))


def register(sub: argparse._SubParsersAction, epilog: str) -> None:
    s = sub.add_parser(
        "bench-runtime", help="measure what the runtime adds to the tensors under host_mem_cap",
        description="Run SWEEP's combinations at MODELS (default: its search's lower end) "
                    "under a cap no run reaches, sample each rank's VmData, and print per "
                    "rank its peak, the measured and predicted tensor peak and VmData's peak "
                    "less the predicted one: the runtime term of suite/prediction.py.",
        epilog="exit codes: 0 every run ok, 1 a run not ok, 2 bad input")
    s.add_argument("sweep", help="sweep file, e.g. suite/sweeps/capacity.toml")
    s.add_argument("--models", nargs="+", default=[], metavar="MODEL",
                   help="model values to run at (catalogue names or spelled dimensions)")
    s.add_argument("--out", default="out/bench-runtime", metavar="DIR",
                   help="folder for the runs' records (default out/bench-runtime)")
    s.set_defaults(func=_cmd_bench_runtime)
    s = sub.add_parser(
        "bench-search", help="time a capacity search against the plain sweep it replaces",
        description="Run SWEEP (a sweep with a model [search]) and then the same combinations "
                    "as a plain sweep over the catalogue sizes of its range, on this machine "
                    "in one run; print both wall times, the probes per combination and the "
                    "ratio search / plain (goal <= 1.5).",
        epilog="exit codes: 0 ratio within the goal, 1 over it, 2 bad input")
    s.add_argument("sweep", help="sweep file with a [search] table, e.g. "
                                 "suite/sweeps/capacity.toml")
    s.add_argument("--out", default="out/bench-search", metavar="DIR",
                   help="folder for both sweeps' records (default out/bench-search)")
    s.set_defaults(func=_cmd_bench_search)

    s = sub.add_parser(
        "bench-report", help="time the frame and the full report over a synthetic history",
        description="For each size, write a synthetic nightly history of real run records "
                    "(nights x partitions x scenarios x repetitions), then time loading it "
                    "into the frame and making the full PDF report, cold (no frame cache) "
                    "and warm (all cached but the last night); print wall and CPU seconds, "
                    "peak RSS and the ratios to the targets.")
    s.add_argument("--records", type=int, nargs="+", default=[25_000, 100_000, 1_000_000],
                   metavar="N", help="about how many records per history (default 25000 "
                                     "100000 1000000)")
    s.add_argument("--repeat", type=int, default=1, metavar="K",
                   help="measurements per size and kind; medians are printed (default 1)")
    s.add_argument("--keep", type=Path, metavar="DIR",
                   help="write the histories here and keep them; a later run reuses them")
    s.set_defaults(func=_cmd_bench_report)

    s = sub.add_parser(
        "bench-harness", help="time a bare DeepSpeed loop against memsweep's worker",
        description="In one run, alternate launches (A/B/A/B) of a bare DeepSpeed training "
                    "loop and of memsweep's worker on the same model and config; print the "
                    "median step of each, their throughput ratio (memsweep / bare) and the "
                    "fixed start-up cost of each.", epilog=epilog)
    s.add_argument("--model", default="tiny", help="model size (default tiny)")
    s.add_argument("--world-size", type=int, default=2, help="ranks (default 2)")
    s.add_argument("--zero-stage", type=int, choices=(0, 1, 2, 3), default=0)
    s.add_argument("--steps", type=int, default=20, help="timed steps per launch (default 20)")
    s.add_argument("--warmup", type=int, default=3, help="warm-up steps (default 3)")
    s.add_argument("--reps", type=int, default=3, help="launches of each (default 3)")
    s.add_argument("--out", help="folder for the worker's records (default: a temporary one)")
    s.set_defaults(func=_cmd_bench_harness)

    s = sub.add_parser(
        "bench-aa", help="the false-alarm rate of compare: one sweep run twice, compared",
        description="Run SWEEP twice on this machine with the same code (A, then B), compare B "
                    "with A and print how many verdicts that produced (each regression or "
                    "improvement is a false alarm; 'noise unknown' where a measured metric has "
                    "too few runs); then plant +10%% peak RSS in one scenario of a copy of B "
                    "and check that compare flags it by name.",
        epilog="exit codes: 0 no false alarm and the planted change flagged; 1 otherwise; "
               "2 bad input")
    s.add_argument("sweep", help="sweep file (TOML), e.g. suite/sweeps/smoke.toml")
    s.add_argument("--repetitions", type=int, default=3,
                   help="runs of each scenario per side (default 3: what a verdict needs)")
    s.add_argument("--out", default="out/bench-aa",
                   help="folder for A, B and the planted copy; an existing A or B is resumed "
                        "(a new folder after changing the code)")
    s.set_defaults(func=_cmd_bench_aa)

    s = sub.add_parser(
        "faults", help="a fault-injection campaign: prove no run is lost (exit 1 if one is)",
        description="Run small sweeps through `memsweep run` and inject a fault into each from "
                    "outside: SIGKILL/SIGTERM/SIGSTOP to a rank, a crash, Ctrl-C then --resume, "
                    "damaged and stale record files, a writer killed mid-write, a read-only or "
                    "full output folder, reruns. Most use a stand-in worker (real MPI ranks and "
                    "records, no model), --deepspeed of them the real one. Prints each case, "
                    "then planned runs, records, lost runs and statuses by fault.",
        epilog="exit codes: 0 no run lost, every record valid, every fault ended as promised; "
               "1 otherwise; 2 bad input")
    s.add_argument("--faults", type=int, metavar="N",
                   help="faults to inject, one per small sweep (default 24; with --slurm 12)")
    s.add_argument("--deepspeed", type=int, metavar="K",
                   help="of those, how many hit the real DeepSpeed worker (default 3, or N if "
                        "fewer; ~30-70 s each)")
    s.add_argument("--slurm", action="store_true",
                   help="against the Slurm clusters of slurm/cluster/up.sh instead (single- and "
                        "two-node): rank and task SIGKILL, scancel, --time, --mem, requeue, "
                        "drain, slurmctld restart, node death, and real-worker ranks signalled "
                        "in forward/backward/step; every Slurm fault once in the first 9")
    s.add_argument("--seed", type=int, default=0, help="which faults, where and when (default 0)")
    s.add_argument("--out", metavar="DIR",
                   help="a new folder for the cases' sweeps (default out/faults/<time>-seed<S>)")
    s.set_defaults(func=_cmd_faults)
