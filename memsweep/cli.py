"""The `memsweep` command line: the parser assembled from one module per group of subcommands.

Exit codes: 0 success, 1 a run failed / a problem found, 2 bad input, 3 environment,
130 interrupted (see suite/errors.py).
"""

from __future__ import annotations

import argparse
import os
import sys

from memsweep import catalogue_cmds, results_cmds, running_cmds, selftest_cmds
from suite.errors import MemsweepError

EPILOG = "exit codes: 0 ok, 1 some run failed, 2 bad input (file/key/fix named), " \
         "3 environment problem, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM)"

GROUPS = (catalogue_cmds, running_cmds, results_cmds, selftest_cmds)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="memsweep", epilog=EPILOG,
        description="Benchmark the memory-saving strategies of large-model training: expand a "
                    "sweep file into scenarios, run each on real ranks with DeepSpeed, record "
                    "one result per run and turn the records into a PDF report.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(sub, EPILOG)
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
    except BrokenPipeError:
        # `memsweep models | head`: the reader left; say nothing, and keep Python's own flush at
        # exit from raising again on the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
