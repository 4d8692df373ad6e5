"""The `memsweep` command line. Each subcommand parses its arguments and calls one package.

Exit codes: 0 success, 1 a run failed / a problem found, 2 bad input, 3 environment,
130 interrupted (see suite/errors.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from suite.errors import MemsweepError

EPILOG = "exit codes: 0 ok, 1 some run failed, 2 bad input (file/key/fix named), " \
         "3 environment problem, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM)"


def _cmd_plan(args) -> int:
    from suite.plan_table import plan_json, plan_text
    from suite.sweep import load_sweep
    from suite.units import parse_bytes

    sweep = load_sweep(args.sweep)
    if args.explain:
        from suite.strategy_view import explain

        print(explain(sweep, args.explain, as_json=args.format == "json"))
        return 0
    capacity = None
    if args.predict or args.capacity:
        capacity = parse_bytes(args.capacity or "80GiB", key="--capacity")
    render = plan_json if args.format == "json" else plan_text
    print(render(sweep, capacity=capacity))
    return 0


def _cmd_strategies(args) -> int:
    from suite.strategy_view import catalogue_text

    print(catalogue_text())
    return 0


def _cmd_models(args) -> int:
    from suite.models import MODELS, human_count

    print(f"{'name':<6} {'scale':<8} {'layers':>6} {'d_model':>7} {'heads':>5} {'vocab':>6} "
          f"{'max_seq':>7} {'params':>14}")
    for m in MODELS.values():
        print(f"{m.name:<6} {m.scale:<8} {m.n_layer:>6} {m.d_model:>7} {m.n_head:>5} "
              f"{m.vocab_size:>6} {m.max_seq_len:>7} {m.n_params:>14,} ({human_count(m.n_params)})")
    return 0


def _cmd_run(args) -> int:
    from slurm.local import run_sweep
    from suite.sweep import load_sweep

    sweep = load_sweep(args.sweep)
    return run_sweep(sweep, out=Path(args.out or f"out/{sweep.name}"), max_ranks=args.ranks,
                     dry_run=args.dry_run, resume=args.resume)


def _cmd_submit(args) -> int:
    from slurm.submit import submit

    overrides = dict(partition=args.partition, account=args.account, qos=args.qos,
                     time=args.time, nodes=args.nodes, gpus_per_node=args.gpus_per_node,
                     max_parallel=args.max_parallel, mem=args.mem)
    return submit(sweep=args.sweep, resume=args.resume, out=args.out, profile=args.profile,
                  overrides=overrides, mpi=args.mpi, dry_run=args.dry_run)


def _cmd_status(args) -> int:
    from slurm.status import status

    if args.interval <= 0:
        from suite.errors import UserInputError

        raise UserInputError(f"must be more than 0, got {args.interval:g}", key="--interval",
                             fix="e.g. --interval 30")
    return status(Path(args.dir), reconcile=args.reconcile, watch=args.watch,
                  interval_s=args.interval)


def _cmd_report(args) -> int:
    from analysis.report import make_report
    from suite.units import parse_bytes

    output = Path(args.output or Path(args.dirs[0]) / "report.pdf")
    capacity = parse_bytes(args.capacity, key="--capacity") if args.capacity else None
    make_report([Path(d) for d in args.dirs], output, capacity=capacity)
    print(f"report: {output}")
    return 0


def _cmd_collect(args) -> int:
    from analysis.collect import collect

    collect([Path(d) for d in args.dirs], Path(args.output))
    return 0


def _cmd_compare(args) -> int:
    from analysis.compare import run_compare
    from analysis.regress import Thresholds

    thresholds = Thresholds(k=args.k, memory_floor=args.memory_floor / 100,
                            throughput_floor=args.throughput_floor / 100)
    return run_compare(args.new, args.baseline, history=args.history, thresholds=thresholds,
                       report=args.output, show_all=args.all)


def _cmd_bench_report(args) -> int:
    from analysis.bench_scale import run

    return run(args.records, args.keep)


def _cmd_bench_harness(args) -> int:
    from jobs.bench_harness import bench

    for key in ("world_size", "steps", "reps"):
        if getattr(args, key) < 1:
            from suite.errors import UserInputError

            raise UserInputError(f"must be 1 or more, got {getattr(args, key)}",
                                 key=f"--{key.replace('_', '-')}")
    bench(model=args.model, world_size=args.world_size, zero_stage=args.zero_stage,
          steps=args.steps, warmup=args.warmup, reps=args.reps,
          out=Path(args.out) if args.out else None)
    return 0


def _cmd_faults(args) -> int:
    from slurm.faults import campaign

    return campaign(faults=args.faults, deepspeed=args.deepspeed, seed=args.seed,
                    out=Path(args.out) if args.out else None)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="memsweep", epilog=EPILOG,
        description="Benchmark the memory-saving strategies of large-model training: expand a "
                    "sweep file into scenarios, run each on real ranks with DeepSpeed, record "
                    "one result per run and turn the records into a PDF report.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("plan", help="print the scenarios a sweep file expands to",
                       description="Expand SWEEP into its scenarios and print them, with every "
                                   "excluded combination and the rule that excluded it. "
                                   "Runs nothing.", epilog=EPILOG)
    s.add_argument("sweep", help="sweep file (TOML), e.g. suite/sweeps/smoke.toml")
    s.add_argument("--format", choices=("text", "json"), default="text")
    s.add_argument("--predict", action="store_true",
                   help="add the analytical model's predicted bytes per rank (model states, "
                        "activations, what stays on the device) and whether each scenario fits")
    s.add_argument("--capacity", metavar="SIZE",
                   help="device memory per rank for --predict, e.g. 80GiB (default 80GiB)")
    s.add_argument("--explain", metavar="RUN_ID",
                   help="print one scenario's full resolved configuration instead: its axis "
                        "values, the strategies on, the model transforms, the DeepSpeed JSON "
                        "and the predicted bytes")
    s.set_defaults(func=_cmd_plan)

    s = sub.add_parser("strategies", help="list the strategy catalogue: axes, values, rules",
                       description="Every strategy of the catalogue (suite/strategies/) with "
                                   "its one-line description, its axes and their values, the "
                                   "scenario kinds it applies to and its rules.", epilog=EPILOG)
    s.set_defaults(func=_cmd_strategies)

    s = sub.add_parser("models", help="list the model sizes of the catalogue")
    s.set_defaults(func=_cmd_models)

    s = sub.add_parser("run", help="run a sweep here, one scenario after another (mpiexec)",
                       description="Run every scenario of SWEEP on this machine: each as its "
                                   "world size of MPI ranks through mpiexec, one after another. "
                                   "A failed scenario is recorded `failed` with its log tail "
                                   "and the sweep goes on.", epilog=EPILOG)
    s.add_argument("sweep", help="sweep file (TOML)")
    s.add_argument("--out", help="output folder (default: out/<sweep name>)")
    s.add_argument("--ranks", type=int, metavar="N",
                   help="most ranks this machine may start; scenarios with a larger world size "
                        "are recorded `skipped`")
    s.add_argument("--dry-run", action="store_true",
                   help="print the mpiexec command of each scenario and run nothing")
    s.add_argument("--resume", action="store_true",
                   help="keep the runs whose record in the output folder is ok; run the rest")
    s.set_defaults(func=_cmd_run)

    s = sub.add_parser("submit", help="submit a sweep to Slurm: one job array + a report job",
                       description="Submit SWEEP to Slurm as ONE job array (one task per "
                                   "scenario, each starting its ranks with srun) and a report "
                                   "job that runs after it (--dependency=afterany), reconciles "
                                   "the records and makes DIR/report.pdf. Writes the scripts "
                                   "into DIR and prints both job ids. Options override the "
                                   "--profile file.", epilog=EPILOG)
    s.add_argument("sweep", nargs="?", help="sweep file (TOML); not with --resume")
    s.add_argument("--resume", metavar="DIR",
                   help="submit again the runs of DIR without an ok record (same run_id, "
                        "attempt + 1), with the settings of its last submission")
    s.add_argument("--out", metavar="DIR",
                   help="output folder (default: out/<sweep name>); may hold {partition}, "
                        "{profile} and {date}, e.g. /scratch/nightly/{partition}/{date}")
    s.add_argument("--profile", metavar="FILE",
                   help="hardware profile (TOML, see slurm/profiles/): partition defaults")
    s.add_argument("--partition", metavar="P")
    s.add_argument("--account", metavar="A")
    s.add_argument("--qos", metavar="Q")
    s.add_argument("--time", metavar="T", help="time limit of each task, e.g. 90 or 01:30:00")
    s.add_argument("--mem", metavar="SIZE", help="memory of each task's node, e.g. 16G")
    s.add_argument("--nodes", type=int, metavar="N", help="nodes of each task")
    s.add_argument("--gpus-per-node", type=int, metavar="G")
    s.add_argument("--max-parallel", type=int, metavar="K",
                   help="at most K tasks of the array at once (%%K)")
    s.add_argument("--mpi", metavar="PLUGIN",
                   help="srun --mpi plugin (pmi2, pmix, none) or `mpiexec`; default from the "
                        "MPI library mpi4py is built against (MPICH: pmi2, Open MPI: pmix)")
    s.add_argument("--dry-run", action="store_true",
                   help="print the two scripts; write and submit nothing")
    s.set_defaults(func=_cmd_submit)

    s = sub.add_parser("status", help="the state of a submitted sweep, one scheduler call",
                       description="Print each planned run of DIR with its Slurm state and "
                                   "record, from one squeue call for the whole sweep. Exit 1 "
                                   "when some run has a record that is not ok.", epilog=EPILOG)
    s.add_argument("dir", metavar="DIR", help="the sweep's output folder")
    s.add_argument("--reconcile", action="store_true",
                   help="give every run whose job ended (or vanished) without a record one "
                        "from its Slurm state, exit code and log tail")
    s.add_argument("--watch", action="store_true",
                   help="poll again every --interval seconds until every run and the report "
                        "job have ended")
    s.add_argument("--interval", type=float, default=30.0, metavar="S",
                   help="seconds between polls with --watch (default 30)")
    s.set_defaults(func=_cmd_status)

    s = sub.add_parser("report", help="make the PDF report from one or more sweep folders")
    s.add_argument("dirs", nargs="+", metavar="DIR", help="sweep output folder(s)")
    s.add_argument("-o", "--output", help="PDF path (default: DIR/report.pdf)")
    s.add_argument("--capacity", metavar="SIZE",
                   help="device memory per rank for the largest-model-that-fits page and the "
                        "memory-vs-size line, e.g. 80GiB (default: from the GPU's name; none "
                        "on the CPU)")
    s.set_defaults(func=_cmd_report)

    s = sub.add_parser("collect", help="write the tidy frame of sweep folders to Parquet or CSV")
    s.add_argument("dirs", nargs="+", metavar="DIR", help="sweep output folder(s)")
    s.add_argument("-o", "--output", required=True,
                   help="output file; .parquet or .csv decides the format")
    s.set_defaults(func=_cmd_collect)

    s = sub.add_parser(
        "compare", help="flag regressions of NEW against BASELINE records (exit 1 if any)",
        description="Compare NEW with BASELINE run records: sweep folders (or folders of "
                    "them), or with --history nights YYYY-MM-DD / ranges YYYY-MM-DD..YYYY-MM-DD."
                    " Scenarios are matched by run_id (same partition: nightly), or by their "
                    "parameters across partitions (hardware). A regression is more memory or "
                    "fewer samples/s beyond max(K x noise, floor), the noise measured from the "
                    "repetitions and the timed steps; memory held (exact ledger bytes) uses "
                    "the floor alone; a scenario ok before and never ok now is one too.",
        epilog="exit codes: 0 no regression, 1 regression found, 2 bad input")
    s.add_argument("new", metavar="NEW", help="sweep folder(s) under one folder, or nights")
    s.add_argument("baseline", metavar="BASELINE", help="the same, to compare against")
    s.add_argument("--history", type=Path, metavar="DIR",
                   help="folder of nightly sweep folders; NEW and BASELINE are then nights")
    s.add_argument("-k", type=float, default=3.0, metavar="K",
                   help="noise multiples a change must exceed (default 3)")
    s.add_argument("--memory-floor", type=float, default=2.0, metavar="PCT",
                   help="smallest memory increase flagged, in %% (default 2)")
    s.add_argument("--throughput-floor", type=float, default=5.0, metavar="PCT",
                   help="smallest throughput loss flagged, in %% (default 5)")
    s.add_argument("--all", action="store_true", help="print every comparison, not only "
                                                      "the changes beyond the threshold")
    s.add_argument("-o", "--output", type=Path, metavar="PDF",
                   help="also write the comparison's pages (figure and table) to this PDF")
    s.set_defaults(func=_cmd_compare)

    s = sub.add_parser(
        "bench-report", help="time the frame and the full report over a synthetic history",
        description="Write a synthetic nightly history of real run records (several nights x "
                    "partitions x scenarios x repetitions), then time loading it into the "
                    "frame, the comparisons and the full PDF report, at a quarter of the "
                    "nights and at all of them; print seconds, peak RSS and RSS per record.")
    s.add_argument("--records", type=int, default=100_000, metavar="N",
                   help="about how many records to generate (default 100000)")
    s.add_argument("--keep", type=Path, metavar="DIR",
                   help="write the history here and keep it; a later run reuses it")
    s.set_defaults(func=_cmd_bench_report)

    s = sub.add_parser(
        "bench-harness", help="time a bare DeepSpeed loop against memsweep's worker",
        description="In one run, alternate launches (A/B/A/B) of a bare DeepSpeed training "
                    "loop and of memsweep's worker on the same model and config; print the "
                    "median step of each, their throughput ratio (memsweep / bare) and the "
                    "fixed start-up cost of each.", epilog=EPILOG)
    s.add_argument("--model", default="tiny", help="model size (default tiny)")
    s.add_argument("--world-size", type=int, default=2, help="ranks (default 2)")
    s.add_argument("--zero-stage", type=int, choices=(0, 1, 2, 3), default=0)
    s.add_argument("--steps", type=int, default=20, help="timed steps per launch (default 20)")
    s.add_argument("--warmup", type=int, default=3, help="warm-up steps (default 3)")
    s.add_argument("--reps", type=int, default=3, help="launches of each (default 3)")
    s.add_argument("--out", help="folder for the worker's records (default: a temporary one)")
    s.set_defaults(func=_cmd_bench_harness)

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
    s.add_argument("--faults", type=int, default=24, metavar="N",
                   help="faults to inject, one per small sweep (default 24)")
    s.add_argument("--deepspeed", type=int, metavar="K",
                   help="of those, how many hit the real DeepSpeed worker (default 3, or N if "
                        "fewer; ~30-70 s each)")
    s.add_argument("--seed", type=int, default=0, help="which faults, where and when (default 0)")
    s.add_argument("--out", metavar="DIR",
                   help="a new folder for the cases' sweeps (default out/faults/<time>-seed<S>)")
    s.set_defaults(func=_cmd_faults)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MemsweepError as e:
        print(f"memsweep: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("memsweep: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
