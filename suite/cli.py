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
    capacity = None
    if args.predict or args.capacity:
        capacity = parse_bytes(args.capacity or "80GiB", key="--capacity")
    render = plan_json if args.format == "json" else plan_text
    print(render(sweep, capacity=capacity))
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


def _cmd_report(args) -> int:
    from analysis.report import make_report

    output = Path(args.output or Path(args.dirs[0]) / "report.pdf")
    make_report([Path(d) for d in args.dirs], output)
    print(f"report: {output}")
    return 0


def _cmd_collect(args) -> int:
    from analysis.collect import collect

    collect([Path(d) for d in args.dirs], Path(args.output))
    return 0


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
    s.set_defaults(func=_cmd_plan)

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

    s = sub.add_parser("report", help="make the PDF report from one or more sweep folders")
    s.add_argument("dirs", nargs="+", metavar="DIR", help="sweep output folder(s)")
    s.add_argument("-o", "--output", help="PDF path (default: DIR/report.pdf)")
    s.set_defaults(func=_cmd_report)

    s = sub.add_parser("collect", help="write the tidy frame of sweep folders to Parquet or CSV")
    s.add_argument("dirs", nargs="+", metavar="DIR", help="sweep output folder(s)")
    s.add_argument("-o", "--output", required=True,
                   help="output file; .parquet or .csv decides the format")
    s.set_defaults(func=_cmd_collect)
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
