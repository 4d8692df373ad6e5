"""`memsweep bench-search`: what a capacity search costs against the plain sweep it replaces.

In one run on this machine: the search sweep as written, then the same combinations as a
plain sweep over the catalogue sizes of the family inside the search's range (what a user
would run without a search: every size, the ones that do not fit included). Prints each
wall time, the probes per combination against log2(range / resolution) + 2, and the ratio
search / plain (goal <= 1.5), with the load average, since this machine is shared.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from pathlib import Path

from results.load import load_records
from results.search_outcome import load_outcomes
from slurm.local import run_sweep
from suite.models import MODELS
from suite.search import SearchSpec, budget_bytes
from suite.sweep import Sweep, load_sweep, parse_sweep, read_toml
from suite.units import format_bytes

GOAL = 1.5


def catalogue_sizes(search: SearchSpec) -> list[str]:
    """The catalogue's sizes of the search's family from `from` to `to`, smallest first."""
    lo, hi = (MODELS[search.lower].n_params, MODELS[search.upper].n_params)
    return [m.name for m in sorted(MODELS.values(), key=lambda m: m.n_params)
            if m.family == search.family and lo <= m.n_params <= hi]


def plain_sweep(path: Path) -> Sweep:
    """The search sweep at `path` as a plain sweep over its range's catalogue sizes."""
    data = read_toml(path)
    search = load_sweep(path).search
    sizes = catalogue_sizes(search)
    blocks = data["axes"] if isinstance(data["axes"], list) else [data["axes"]]
    blocks = [{**b, "model": sizes} for b in blocks]
    plain = {k: v for k, v in data.items() if k != "search"}
    plain["axes"] = blocks if isinstance(data["axes"], list) else blocks[0]
    plain["sweep"] = {**data["sweep"], "name": f"{data['sweep']['name']}-plain"}
    return parse_sweep(plain, source=f"{path} (as a plain sweep)", base_dir=path.parent)


def run(path: Path, out: Path) -> int:
    sweep = load_sweep(path)
    if sweep.search is None or sweep.search.axis != "model":
        print(f"memsweep bench-search: {path} has no model [search]", file=sys.stderr)
        return 2
    plain = plain_sweep(path)
    search = sweep.search
    print(f"bench-search: {path}: {len(sweep.scenarios)} combinations; plain sweep over "
          f"{', '.join(catalogue_sizes(search))} ({len(plain.scenarios)} runs)")
    load0 = os.getloadavg()[0]
    t = time.monotonic()
    run_sweep(sweep, out=out / "search")
    searched = time.monotonic() - t
    t = time.monotonic()
    run_sweep(plain, out=out / "plain")
    swept = time.monotonic() - t
    probes = _probes(out / "search")
    launched = sum(probes) - _reused(out / "search")
    ladder = search.ladder()
    steps = math.log(search.size(ladder[-1]) / search.size(ladder[0])) / math.log(
        1 + search.resolution)
    expected = math.log2(max(steps, 1)) + 2
    ratio = searched / swept
    print(f"search: {searched:7.1f} s wall, probes per combination {probes} "
          f"(log2(range/resolution) + 2 = {expected:.1f}); {_per_run(searched, launched)}; "
          f"{_statuses(out / 'search')}")
    print(f"plain:  {swept:7.1f} s wall, {len(plain.scenarios)} runs; "
          f"{_per_run(swept, len(plain.scenarios))}; {_statuses(out / 'plain')}")
    # The ratio is (runs launched) x (wall per run): which of the two makes it.
    print(f"runs launched search / plain = {launched}/{len(plain.scenarios)} = "
          f"{launched / len(plain.scenarios):.2f}; wall per run search / plain = "
          f"{(searched / max(launched, 1)) / (swept / len(plain.scenarios)):.2f}")
    print(f"ratio search / plain = {ratio:.2f} (goal <= {GOAL}: "
          f"{'met' if ratio <= GOAL else 'NOT met'}); load average {load0:.1f} -> "
          f"{os.getloadavg()[0]:.1f}; budget {format_bytes(_budget(sweep) or 0)} per rank")
    return 0 if ratio <= GOAL else 1


def _probes(folder: Path) -> list[int]:
    return [len(o.probes) for o in load_outcomes(folder)]


def _reused(folder: Path) -> int:
    return sum(p.reused for o in load_outcomes(folder) for p in o.probes)


def _per_run(wall_s: float, runs: int) -> str:
    return f"{wall_s / max(runs, 1):.1f} s wall per run launched"


def _statuses(folder: Path) -> str:
    """Each status's count and median time inside the worker (its record's duration_s: from
    the worker's start to its record, so the rest of a run's wall is start-up and exit)."""
    records, _ = load_records(folder)
    by: dict[str, list[float]] = {}
    for r in records:
        by.setdefault(r.status, []).append(r.duration_s or 0.0)
    return ", ".join(f"{len(d)} {status} (median {statistics.median(d):.1f} s in the worker)"
                     for status, d in sorted(by.items()))


def _budget(sweep: Sweep) -> int | None:
    s = sweep.scenarios[0]
    return budget_bytes(sweep.search, s.values, s.settings)
