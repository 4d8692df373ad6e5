"""Whether a CPU run's speed is its own: was it timed while other work shared its CPUs?

A run records the host's 1-minute load average just after its timed steps and the CPUs it
may use (jobs/record.py). A load above those CPUs means other processes competed for them,
and then its samples/s measure the machine's load as much as the strategy: on this 2-core
machine two runs of the same computation minutes apart gave 71% and 122% of a baseline, and
an A/A run of the smoke sweep under load 6-8 moved throughput by -57% to +144% between the
two sides, beyond 3 x the noise of their own back-to-back repetitions. A speed timed on
shared CPUs is therefore reported as unknown, with the load, never as a finding or verdict.

The load is the machine's, the CPUs the run's: on a node shared with other jobs' pinned
cores this says "shared" too soon (an exclusive node, as a nightly partition should be,
does not).
"""

from __future__ import annotations

import pandas as pd

SHARED_SLACK = 0.5  # load average above the CPUs (beyond rounding): other work shared them


def shared_load(frame: pd.DataFrame) -> pd.Series:
    """Per row: the load over the run's CPUs where a CPU run was timed on shared CPUs,
    else NaN (not shared, a GPU run, or a record without the figures)."""
    if not {"load_average", "cpus", "device"} <= set(frame.columns):
        return pd.Series(float("nan"), index=frame.index)
    load = pd.to_numeric(frame["load_average"], errors="coerce")
    cpus = pd.to_numeric(frame["cpus"], errors="coerce")
    shared = (frame["device"] == "cpu") & (load > cpus + SHARED_SLACK)
    return (load / cpus).where(shared)


def shared_note(rows: list[pd.Series]) -> str:
    """Why these CPU runs' speeds are not comparable ("" if they are): the highest load
    average above its CPUs that one of them was timed at."""
    frame = pd.DataFrame(rows).reset_index(drop=True)
    ratio = shared_load(frame)
    if ratio.isna().all():
        return ""
    worst = frame.loc[ratio.idxmax()]
    return (f"unknown: timed while other work shared the CPUs (load "
            f"{worst['load_average']:.1f} on {int(worst['cpus'])})")
