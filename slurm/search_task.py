"""One array task of a searched sweep: the capacity search of combination INDEX of the plan,
probe after probe, each probe a job step inside this allocation (slurm/task.py's step).

    python -m slurm.search_task --plan DIR/plan.json --out DIR --index I

The outcome is DIR/searches/<search_id>.json, written after every probe; a probe already
recorded ok or oom is reused, so a task killed or requeued continues where it was.
Exit codes: 0 the search concluded, 1 it did not (a probe failed, or it was stopped),
2 bad arguments or plan.
"""

from __future__ import annotations

import sys

from results.schema import RunRecord
from results.search_outcome import FINISHED
from slurm import searching, task
from slurm.caught import Caught
from suite.errors import MemsweepError
from suite.plan import Plan
from suite.scenario import Scenario


def main(argv: list[str] | None = None) -> int:
    with Caught(task.CAUGHT) as signals:  # first: a scancel during start-up ends cleanly
        args = task.build_parser().parse_args(argv)
        try:
            plan = Plan.read(args.plan)
            search = plan.search
            if search is None:
                raise ValueError("the plan has no [search] table")
            combination = plan.scenario(index=args.index)
        except (MemsweepError, OSError, ValueError, KeyError, TypeError, IndexError) as e:
            print(f"memsweep search task: error: {args.plan}: {e}", file=sys.stderr)
            return 2
        name = plan.sweep

        def run_one(probe: Scenario) -> tuple[RunRecord, bool]:
            if known := searching.reused(args.out, probe):
                return known, False
            probe_plan = searching.probe_plan(args.out, name, probe)
            launch, attempt = task.step(probe, plan=probe_plan, out=args.out)
            return task.run(probe, launch, out=args.out, attempt=attempt,
                            signals=signals), True

        outcome = searching.run_search(
            search, name, combination, out=args.out, run_one=run_one,
            say=lambda line: print(f"memsweep search task: {line.strip()}", flush=True),
            should_stop=lambda: bool(signals.signum))
    print(f"memsweep search task: combination {args.index}: "
          f"{searching.summary_line(outcome).strip()}", flush=True)
    return 0 if outcome.status in FINISHED else 1


if __name__ == "__main__":
    raise SystemExit(main())
