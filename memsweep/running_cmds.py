"""`memsweep` run, submit, status: getting a sweep's scenarios onto machines, following them."""

from __future__ import annotations

import argparse
from pathlib import Path

from slurm.local import run_sweep
from slurm.status import status
from slurm.submit import submit
from suite.errors import UserInputError
from suite.sweep import load_sweep


def _cmd_run(args) -> int:
    sweep = load_sweep(args.sweep)
    return run_sweep(sweep, out=Path(args.out or f"out/{sweep.name}"), max_ranks=args.ranks,
                     dry_run=args.dry_run, resume=args.resume)


def _cmd_submit(args) -> int:
    overrides = dict(partition=args.partition, account=args.account, qos=args.qos,
                     time=args.time, nodes=args.nodes, gpus_per_node=args.gpus_per_node,
                     max_parallel=args.max_parallel, mem=args.mem)
    return submit(sweep=args.sweep, resume=args.resume, out=args.out, profile=args.profile,
                  overrides=overrides, mpi=args.mpi, dry_run=args.dry_run,
                  ops_check=not args.no_ops_check)


def _cmd_status(args) -> int:
    if args.interval <= 0:
        raise UserInputError(f"must be more than 0, got {args.interval:g}", key="--interval",
                             fix="e.g. --interval 30")
    return status(Path(args.dir), reconcile=args.reconcile, watch=args.watch,
                  interval_s=args.interval)


def register(sub: argparse._SubParsersAction, epilog: str) -> None:
    s = sub.add_parser("run", help="run a sweep here, one scenario after another (mpiexec)",
                       description="Run every scenario of SWEEP on this machine: each as its "
                                   "world size of MPI ranks through mpiexec, one after another. "
                                   "A failed scenario is recorded `failed` with its log tail "
                                   "and the sweep goes on.", epilog=epilog)
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

    s = sub.add_parser("submit", help="submit a sweep to Slurm: job arrays + a report job",
                       description="Submit SWEEP to Slurm as one job array per node count "
                                   "(one task per scenario, asking for the nodes its world "
                                   "size takes and starting its ranks with srun; a sweep whose "
                                   "runs all fit on one node is ONE array) and a report job "
                                   "that runs after them (--dependency=afterany), reconciles "
                                   "the records and makes DIR/report.pdf. Writes the scripts "
                                   "into DIR and prints the job ids. Options override the "
                                   "--profile file.", epilog=epilog)
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
    s.add_argument("--nodes", type=int, metavar="N",
                   help="nodes of each task (default: its world size / tasks_per_node)")
    s.add_argument("--gpus-per-node", type=int, metavar="G")
    s.add_argument("--max-parallel", type=int, metavar="K",
                   help="at most K tasks of each array at once (%%K)")
    s.add_argument("--mpi", metavar="PLUGIN",
                   help="srun --mpi plugin (pmi2, pmix, none) or `mpiexec`; default from the "
                        "MPI library mpi4py is built against (MPICH: pmi2, Open MPI: pmix)")
    s.add_argument("--dry-run", action="store_true",
                   help="print the scripts; write and submit nothing")
    s.add_argument("--no-ops-check", action="store_true",
                   help="submit without first checking here that DeepSpeed's ops the CPU "
                        "runs load are built for this installation (exit 3 if not); each "
                        "task still checks on its node. For compute nodes whose CPU differs "
                        "from this host's")
    s.set_defaults(func=_cmd_submit)

    s = sub.add_parser("status", help="the state of a submitted sweep, one scheduler call",
                       description="Print each planned run of DIR with its Slurm state and "
                                   "record, from one squeue call for the whole sweep. Exit 1 "
                                   "when some run has a record that is not ok.", epilog=epilog)
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
