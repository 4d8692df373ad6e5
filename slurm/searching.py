"""Capacity searches on this machine: per combination, probe after probe until the boundary
is bracketed (suite/search.py decides which value next; each probe is an ordinary run).

A probe whose record is already in DIR/runs is reused, never run again, so an interrupted
search resumes from its probes. A probe that ends other than `ok` or `oom` stops that
search with status `failed` and its reason: no boundary is claimed from it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

from results.schema import RunRecord
from results.search_outcome import ProbeResult, SearchOutcome, write_outcome
from slurm.outcome import previous_record
from suite.models import human_count
from suite.names import check_name
from suite.plan import Plan
from suite.scenario import Scenario
from suite.search import SearchSpec, budget_bytes, combination_name, predicted_index
from suite.units import format_bytes

# (probe scenario) -> (its record, whether it was launched now)
RunOne = Callable[[Scenario], tuple[RunRecord, bool]]


def search_id(search: SearchSpec, combination: Scenario) -> str:
    """Stable id of one combination's search: its scenario at the lower end and the search."""
    blob = json.dumps({"scenario": combination.run_id, "search": asdict(search)},
                      sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def probe_scenario(combination: Scenario, axis: str, value: object) -> Scenario:
    return Scenario.from_values(sweep=combination.sweep, values={**combination.values,
                                                                 axis: value},
                                repetition=combination.repetition,
                                settings=combination.settings)


def run_search(search: SearchSpec, sweep_name: str, combination: Scenario, *, out: Path,
               run_one: RunOne, say: Callable[[str], None],
               should_stop: Callable[[], bool]) -> SearchOutcome:
    """Bisect one combination to its boundary; the outcome is written after every probe."""
    ladder = search.ladder()
    values = combination.values
    budget = budget_bytes(search, values, combination.settings)
    start = predicted_index(search, ladder, values, budget)
    bisection = search.bisection(ladder, start)
    outcome = SearchOutcome(
        search_id=search_id(search, combination), sweep=sweep_name, axis=search.axis,
        combination={k: v for k, v in values.items() if k != search.axis},
        label=combination_name(search, values),
        budget_bytes=budget, resolution=search.resolution,
        predicted_value=ladder[start] if budget is not None else None,
        predicted_size=search.size(ladder[start]) if budget is not None else None)
    write_outcome(out, outcome)
    while (index := bisection.next()) is not None:
        if should_stop():
            return _write(out, replace(outcome, status="cancelled", reason="interrupted"))
        value = ladder[index]
        probe = probe_scenario(combination, search.axis, value)
        t = time.monotonic()
        record, launched = run_one(probe)
        result = ProbeResult(value=value, size=search.size(value), run_id=probe.run_id,
                             status=record.status, reused=not launched,
                             peak_bytes=_peak(record))
        outcome = replace(outcome, probes=(*outcome.probes, result))
        say(f"    probe {len(outcome.probes)}: {search.axis} = {_show(search, value)} ... "
            f"{record.status}" + (f"  {time.monotonic() - t:.1f}s" if launched
                                  else "  (recorded before: reused)"))
        if record.status == "cancelled":
            return _write(out, replace(outcome, status="cancelled", reason=record.reason))
        if record.status not in ("ok", "oom"):
            return _write(out, replace(
                outcome, status="failed",
                reason=f"probe {probe.run_id} ({search.axis} = {value}) ended "
                       f"{record.status}: {record.reason or 'no reason recorded'}"))
        bisection.record(index, record.status == "ok")
        outcome = _bracket(outcome, bisection, ladder)
        write_outcome(out, outcome)
    return _write(out, _concluded(outcome, bisection, ladder))


def _bracket(outcome: SearchOutcome, bisection, ladder: list) -> SearchOutcome:
    by_value = {p.value: p for p in outcome.probes}
    ok = by_value.get(ladder[bisection.ok]) if bisection.ok >= 0 else None
    failed = by_value.get(ladder[bisection.failed]) if bisection.failed < len(ladder) else None
    return replace(outcome, last_ok=ok, first_failed=failed)


def _concluded(outcome: SearchOutcome, bisection, ladder: list) -> SearchOutcome:
    outcome = _bracket(outcome, bisection, ladder)
    if outcome.last_ok is None:
        return replace(outcome, status="none_fit",
                       reason=f"the lower end {ladder[0]} did not fit")
    if outcome.first_failed is None:
        return replace(outcome, status="all_fit",
                       reason=f"the upper end {ladder[-1]} fits: the boundary is above it")
    return replace(outcome, status="found")


def _write(out: Path, outcome: SearchOutcome) -> SearchOutcome:
    write_outcome(out, outcome)
    return outcome


def _peak(record: RunRecord) -> int | None:
    peaks = [r.peak_host_rss_bytes for r in record.ranks if r.peak_host_rss_bytes]
    return max(peaks) if peaks else None


def _show(search: SearchSpec, value: object) -> str:
    if search.axis == "model":
        return f"{value} ({human_count(search.size(value))})"
    return str(value)


def summary_line(outcome: SearchOutcome) -> str:
    """One line per searched combination, for the end of `memsweep run` and for `status`."""
    budget = format_bytes(outcome.budget_bytes) if outcome.budget_bytes else "device memory"
    ok, failed = outcome.last_ok, outcome.first_failed
    if outcome.status in ("found", "all_fit", "none_fit"):
        found = f"largest ok {_value(outcome, ok)}" if ok else "nothing fits"
    else:  # not concluded: only what the probes so far say
        found = f"so far ok up to {_value(outcome, ok)}" if ok else "so far nothing ok"
    above = f", first {failed.status} {_value(outcome, failed)}" if failed else ""
    why = f": {outcome.reason}" if outcome.status in ("failed", "cancelled") else ""
    return (f"  {outcome.label}: {found}{above} under {budget} per rank "
            f"[{outcome.status}{why}, {len(outcome.probes)} probes]")


def _value(outcome: SearchOutcome, probe: ProbeResult) -> str:
    if outcome.axis == "model":
        return f"{human_count(probe.size)} params"
    return f"{outcome.axis} {probe.value}"


def probe_plan(out: Path, sweep_name: str, probe: Scenario) -> Path:
    """DIR/plans/<run_id>.json: a plan of the one probe, which its worker reads. One file per
    probe: array tasks searching at once never write the same file."""
    path = out / "plans" / f"{check_name(probe.run_id, what='run_id')}.json"
    if not path.exists():
        Plan(sweep=sweep_name, source="capacity search", description="",
             scenarios=(probe,)).write(path)
    return path


def reused(out: Path, probe: Scenario) -> RunRecord | None:
    """The probe's record if it already says whether it fits (ok or oom): never rerun it."""
    previous = previous_record(out, probe.run_id)
    return previous if previous and previous.status in ("ok", "oom") else None
