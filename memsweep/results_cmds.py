"""`memsweep` report, collect, compare: records turned into frames, verdicts and the PDF."""

from __future__ import annotations

import argparse
from pathlib import Path

from analysis.peak_table import peak_table
from suite.units import parse_bytes


def _cmd_report(args) -> int:
    # pandas/matplotlib/torch load late: `plan` and `run` need not pay for them
    from analysis.report import make_report

    output = Path(args.output or Path(args.dirs[0]) / "report.pdf")
    capacity = parse_bytes(args.capacity, key="--capacity") if args.capacity else None
    make_report([Path(d) for d in args.dirs], output, capacity=capacity)
    print(f"report: {output}")
    return 0


def _cmd_collect(args) -> int:
    # pandas/matplotlib/torch load late: `plan` and `run` need not pay for them
    from analysis.collect import collect

    collect([Path(d) for d in args.dirs], Path(args.output))
    return 0


def _cmd_compare(args) -> int:
    # pandas/matplotlib/torch load late: `plan` and `run` need not pay for them
    from analysis.compare import run_compare
    from analysis.regress import Thresholds

    thresholds = Thresholds(k=args.k, memory_floor=args.memory_floor / 100,
                            throughput_floor=args.throughput_floor / 100)
    return run_compare(args.new, args.baseline, history=args.history, thresholds=thresholds,
                       report=args.output, show_all=args.all)


def _cmd_peak_table(args) -> int:
    print(peak_table([Path(d) for d in args.dirs]))
    return 0


def register(sub: argparse._SubParsersAction, epilog: str) -> None:
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
        "peak-table", help="print measured against predicted tensor peak per rank (Markdown)",
        description="Print, for every ok training scenario of the sweep folder(s), the peak of "
                    "live tensor bytes each rank measured against suite/peak_model.py's "
                    "prediction, their ratio, the phase, and what the peak host RSS adds: the "
                    "table of docs/measurement.md.")
    s.add_argument("dirs", nargs="+", metavar="DIR", help="sweep output folder(s)")
    s.set_defaults(func=_cmd_peak_table)

    s = sub.add_parser(
        "compare", help="flag regressions of NEW against BASELINE records (exit 1 if any)",
        description="Compare NEW with BASELINE run records: sweep folders (or folders of "
                    "them), or with --history nights YYYY-MM-DD / ranges YYYY-MM-DD..YYYY-MM-DD."
                    " Scenarios are matched by run_id (same partition: nightly), or by their "
                    "parameters across partitions (hardware). A regression is more memory or "
                    "fewer samples/s beyond max(K x noise, floor), the noise measured between "
                    "runs: throughput, peak RSS and reserved memory need 3 or more ok runs on "
                    "each side (repetitions, nights), else they are 'noise unknown', no "
                    "verdict, and so is a CPU run's throughput timed while other work shared "
                    "its CPUs (load average above them); exact bytes (memory held, peak "
                    "allocated) use the floor alone; a scenario ok before and never ok now "
                    "is a regression too.",
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
