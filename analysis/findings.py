"""The summary page: findings written as sentences from the data.

Each Finding keeps the numbers its sentence states (`values`), so a test can
check the sentence against the frame it was computed from. Percentages are
rounded to whole numbers in the text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from analysis.analysis import Analysis
from analysis.capacity import within_one_step
from analysis.grouping import Group, describe, groups
from analysis.history import night_span
from analysis.labels import BASELINE
from analysis.regress import FEW_RUNS, HOW_TO_KNOW, HOW_TO_UNSHARE, SHARED, Comparison
from analysis.run_tables import status_counts
from analysis.tidy import hardware_keys, matching, one_value, peak_what, setup_keys, varying
from analysis.units import human_bytes
from suite.models import MODELS, human_count

MAX_SETUPS = 3  # hardware setups that get sentences of their own
MIN_SAVING = 1.0  # %: a smaller saving is reported as none


@dataclass(frozen=True)
class Finding:
    section: str  # the report section it summarises
    text: str
    values: dict = field(default_factory=dict)


def findings(a: Analysis) -> list[Finding]:
    if a.frame.empty:
        return [Finding("Runs", "No run records were found.")]
    out = capacity_findings(a)  # the question the suite answers: first
    out += [runs_finding(a.frame)]
    out += savings_findings(a)
    if a.boundaries.empty:  # a search answers it by measurement; the sizes run do not
        out += fits_findings(a)
    out += pareto_findings(a)
    out += scaling_findings(a)
    nightly, nights = a.nightly
    if nightly is not None:
        out.append(nightly_finding(nightly, nights))
    out += hardware_findings(a)
    return out


def capacity_findings(a: Analysis) -> list[Finding]:
    """Per searched setup: the strategy with the largest measured boundary against the
    baseline's, with its cost in FLOP/s, then every boundary in one sentence."""
    out = []
    table = a.boundaries
    for (setup, axis), rows in table.groupby(["setup", "axis"], sort=False):
        found = rows[rows["status"].isin(("found", "all_fit")) & rows["boundary_size"].notna()]
        budget = rows["budget_bytes"].dropna()
        under = (f"Under {human_bytes(int(budget.iloc[0]))} per rank" if len(budget)
                 else "Within the device's memory") + f" on {setup}"
        if found.empty:
            out.append(Finding("Capacity boundaries (search)",
                               f"{under}, no search found a boundary ({_statuses(rows)}).",
                               {"setup": setup}))
            continue
        best = found.loc[found["boundary_size"].idxmax()]
        base = found[found["strategy"] == BASELINE]
        show = _shown(axis)
        if base.empty or best["strategy"] == BASELINE:
            text = (f"{under}, {best['strategy']} reaches the largest {axis.replace('_', ' ')}: "
                    f"{show(best['boundary_size'])}")
            text += "; no strategy beats the baseline." if best["strategy"] == BASELINE else \
                " (the baseline's search found no boundary)."
        else:
            b = base.iloc[0]
            cost = (f" at {best['speed']:.0%} of its training FLOP/s" if pd.notna(best["speed"])
                    else f"; its training FLOP/s against the baseline's is {best['speed_note']}"
                    if best.get("speed_note") else "")
            text = (f"{under}, {best['strategy']} trains a {best['ratio']:.2g}x larger "
                    f"{'model' if axis == 'model' else axis.replace('_', ' ')} than the "
                    f"baseline ({show(best['boundary_size'])} vs {show(b['boundary_size'])})"
                    f"{cost}.")
        others = [f"{r['strategy']} {show(r['boundary_size'])}" + (
                      f" ({r['ratio']:.2g}x the baseline)"
                      if r["strategy"] != BASELINE and not base.empty and pd.notna(r["ratio"])
                      else "") for _, r in found.sort_values("boundary_size").iterrows()]
        text += " Boundaries measured: " + ", ".join(others) + "."
        text += _prediction_note(found, axis) + _order_note(found)
        out.append(Finding("Capacity boundaries (search)", text,
                           {"setup": setup, "best": best["strategy"],
                            "best_size": int(best["boundary_size"]),
                            "ratio": best["ratio"], "speed": best["speed"]}))
    return out


def _prediction_note(found: pd.DataFrame, axis: str) -> str:
    """Where the analytical model's boundary is more than one resolution step from the
    measured one: which, by how much, and why it may be."""
    show = _shown(axis)
    missed = [r for _, r in found.iterrows()
              if within_one_step(r, r["resolution"]) is False]
    if not missed:
        return " Each is within one resolution step of the analytical model's boundary."
    said = ", ".join(f"{r['strategy']} (predicted {show(r['predicted_size'])})"
                     for r in missed)
    return (f" The analytical model missed by more than one resolution step for {said}: "
            "what it adds to the tensor peak for the runtime (a named term per engine, "
            "measured by `memsweep bench-runtime` on one machine and world size) differs "
            "from the address space a rank's process takes under the cap here (VmData).")


def _order_note(found: pd.DataFrame) -> str:
    """Why ZeRO-3 stays below ZeRO-2 where the analytical model predicts it too (one sentence):
    the ZeRO paper's states at rest order the other way, the step's peak does not."""
    by = {r["strategy"]: r for _, r in found.iterrows()}
    z2, z3 = by.get("zero_stage=2"), by.get("zero_stage=3")
    if z2 is None or z3 is None or not z3["boundary_size"] < z2["boundary_size"] \
            or pd.isna(z3["predicted_size"]) or pd.isna(z2["predicted_size"]) \
            or z3["predicted_size"] > z2["predicted_size"]:
        return ""
    return (" ZeRO-3 stays below ZeRO-2, as the analytical model predicts: at this world size "
            "its step holds as many bytes per parameter as ZeRO-2's (its shards plus a flat "
            "fp32 copy of its gradient shard and AdamW's two temporaries, against ZeRO-2's "
            "full parameters plus shards; DeepSpeed's sub_group_size bounds them to a "
            "sub-group's), and its engine takes more runtime memory.")


def _shown(axis: str):
    if axis == "model":
        return lambda n: f"{human_count(int(n))} parameters"
    return lambda n: str(int(n))


def _statuses(rows: pd.DataFrame) -> str:
    return ", ".join(f"{n} {s}" for s, n in rows["status"].value_counts().items())


def runs_finding(frame: pd.DataFrame) -> Finding:
    counts = dict(status_counts(frame).itertuples(index=False))
    n, ok, oom = len(frame), counts.get("ok", 0), counts.get("oom", 0)
    other = n - ok - oom
    parts = frame["partition"].nunique()
    text = (f"{n:,} runs in {night_span(frame)}, on {parts} partition{'s' * (parts != 1)}: "
            f"{ok:,} ok, {oom:,} out of memory, {other:,} failed otherwise"
            + (" (see the failures pages)." if other else "."))
    return Finding("Runs", text, {"runs": n, "ok": ok, "oom": oom, "other": other})


def savings_findings(a: Analysis) -> list[Finding]:
    """Per hardware setup: the strategy that saves the most memory for the largest model whose
    baseline ran ok, and what it costs. On the CPU the peak is the tensor peak, and a sentence
    says what the host RSS adds to it (the runtime); then the strategy that saves the most
    model states (the ledger shows a strategy working where the peak is mostly something
    else: DeepSpeed's buckets, or the runtime where records hold only the RSS)."""
    frame = a.frame
    rows = a.reference.dropna(subset=["memory_saved_pct"])
    what = peak_what(frame)
    out = []
    for cell in _first_setups(rows, frame):
        best = cell.rows.loc[cell.rows["memory_saved_pct"].idxmax()]
        saved, cost = best["memory_saved_pct"], best["throughput_cost_pct"]
        where = f" on {cell.label}" if cell.label else ""
        if saved < MIN_SAVING:
            least = (f"the most: {best['strategy']}, {saved:.1f}%" if saved >= 0 else
                     f"the smallest increase: {best['strategy']}, {-saved:+.1f}%")
            out.append(Finding(
                "Strategies vs baseline",
                f"No strategy cut {what} by {MIN_SAVING:.0f}% or more for {best['model']}"
                f"{where} ({least}).",
                {"strategy": best["strategy"], "model": best["model"], "setup": cell.values,
                 "memory_saved_pct": saved}))
        else:
            price = (f"at a {cost:.0f}% throughput cost" if cost >= 0.5 else
                     f"while running {-cost:.0f}% faster" if cost <= -0.5 else
                     "at no measurable throughput cost")
            loss = best["loss_delta"]
            loss_text = "" if pd.isna(loss) else f" (final loss {loss:+.3f})"
            out.append(Finding(
                "Strategies vs baseline",
                f"{best['strategy']} cut {what} by {saved:.0f}% for {best['model']}{where}, from "
                f"{human_bytes(best['baseline_peak'])} to {human_bytes(best['peak'])} per rank, "
                f"{price}{loss_text}.",
                {"strategy": best["strategy"], "model": best["model"], "setup": cell.values,
                 "memory_saved_pct": saved, "throughput_cost_pct": cost, "loss_delta": loss}))
        if cell.values.get("device") != "cuda":
            rss = _rss_finding(frame, {**cell.values, "model": best["model"]}, where)
            out += rss + _held_finding(cell.rows, where, cell.values, peak_is_rss=not rss)
    return out


def _rss_finding(frame: pd.DataFrame, setup: dict, where: str) -> list[Finding]:
    """Where the CPU's peak is the tensor peak: in one sentence, what the RSS adds to it."""
    rows = frame[matching(frame, setup) & (frame["status"] == "ok")]
    extra = rows.groupby("strategy")["rss_extra_bytes"].median().dropna()
    if extra.empty:
        return []
    lo, hi = float(extra.min()), float(extra.max())
    model = f"for {setup['model']}{where}"
    if lo >= 0:
        text = (f"The peak host RSS adds {_span(lo, hi)} per rank to these tensor peaks {model}: "
                "the runtime's own memory (Python, torch, DeepSpeed, gloo, the allocator's "
                "cache), which no strategy here shards.")
    elif hi < 0:
        text = (f"The peak host RSS is {_span(-hi, -lo)} per rank below these tensor peaks "
                f"{model}: tensors allocated but never written (DeepSpeed's reduce bucket, "
                "sized for GPUs) take no resident pages, more than the runtime adds.")
    else:
        text = (f"The peak host RSS differs from these tensor peaks by "
                f"{_span(lo, hi, signed=True)} per rank {model}: it adds the runtime's own "
                "memory and leaves out tensors allocated but never written (DeepSpeed's reduce "
                "bucket, sized for GPUs).")
    return [Finding(
        "Strategies vs baseline", text,
        {"model": setup["model"], "setup": setup, "rss_extra_min": lo, "rss_extra_max": hi})]


def _held_finding(rows: pd.DataFrame, where: str, setup: dict, *,
                  peak_is_rss: bool) -> list[Finding]:
    held = rows.dropna(subset=["held_saved_pct"])
    if held.empty:
        return []
    best = held.loc[held["held_saved_pct"].idxmax()]
    saved = best["held_saved_pct"]
    if saved < MIN_SAVING:
        return []
    return [Finding(
        "Strategies vs baseline",
        f"{best['strategy']} cut the model states a rank holds (parameters, gradients, "
        f"optimizer states: the ledger) by {saved:.0f}% for {best['model']}{where}, from "
        f"{human_bytes(best['baseline_held'])} to {human_bytes(best['held'])} per rank"
        + ("; on the CPU the peak RSS is mostly the runtime's own memory." if peak_is_rss
           else "."),
        {"strategy": best["strategy"], "model": best["model"], "setup": setup,
         "held_saved_pct": saved})]


def _span(lo: float, hi: float, *, signed: bool = False) -> str:
    def show(v: float) -> str:
        return ("-" if v < 0 else "+" if signed else "") + human_bytes(abs(v))
    return show(lo) if show(lo) == show(hi) else f"{show(lo)} to {show(hi)}"


def fits_findings(a: Analysis) -> list[Finding]:
    out = []
    for cell in _first_setups(a.fits, a.frame):
        rows = cell.rows.set_index("strategy")
        base = rows["largest_measured"].get(BASELINE)
        answer = rows["largest_predicted"].where(rows["basis"] == "predicted",
                                                 rows["largest_measured"]).dropna()
        if answer.empty:
            continue
        best = max(answer.index, key=lambda s: (_size(answer[s]), s != BASELINE,
                                                rows.at[s, "basis"] == "measured",
                                                -s.count(" + ")))
        basis = rows.at[best, "basis"]
        where = f"On {cell.label}" if cell.label else "Here"
        base_text = (f"the baseline fits up to {base}" if isinstance(base, str) else
                     "the baseline fits no size that was run")
        how = (f"{answer[best]} (predicted; {rows.at[best, 'largest_measured']} measured)"
               if basis == "predicted" else answer[best])
        out.append(Finding("Largest model that fits",
                           f"{where} {base_text}; {best} fits up to {how}.",
                           {"setup": cell.values, "baseline": base, "strategy": best,
                            "largest": answer[best], "basis": basis}))
    return out


def pareto_findings(a: Analysis) -> list[Finding]:
    front = a.pareto
    out = []
    keys = setup_keys(a.frame)
    for cell in _first_setups(a.reference, a.frame)[:1]:
        model = cell.rows["model"].iloc[0]
        named = {**cell.values, "model": model}
        mine = front[matching(front, {k: v for k, v in named.items() if k in keys})]
        on = mine[mine["on_front"]]["strategy"].tolist()
        where = f" on {cell.label}" if cell.label else ""
        out.append(Finding(
            "Pareto front",
            f"For {model}{where}, {len(on)} of {len(mine)} strategies are on the "
            f"memory-throughput Pareto front: {', '.join(on)}.",
            {"model": model, "setup": cell.values, "front": on, "strategies": len(mine)}))
    return out


def scaling_findings(a: Analysis) -> list[Finding]:
    table = a.scaling
    if table.empty:
        return []
    sharded = table[table["strategy"] != BASELINE]
    if sharded.empty:
        return []
    biggest = sharded.loc[sharded.groupby("strategy")["world_size"].idxmax()]
    best = biggest.loc[biggest["memory_ratio"].idxmin()]
    rows = sharded[(sharded["strategy"] == best["strategy"]) & (sharded["model"] == best["model"])]
    keys = [k for k in hardware_keys(a.frame) if k != "world_size" and k in rows]
    rows = rows[matching(rows, {k: best[k] for k in keys})].sort_values("world_size")
    first, last = rows.iloc[0], rows.iloc[-1]
    where = describe({k: best[k] for k in varying(table, keys)})
    return [Finding(
        "Scaling with the world size",
        f"With {best['strategy']}, peak memory per rank for {best['model']}"
        f"{' on ' + where if where else ''} falls by {100 * (1 - last['memory_ratio']):.0f}% "
        f"from {first['world_size']} to {last['world_size']} ranks, at "
        f"{100 * last['efficiency']:.0f}% scaling efficiency.",
        {"strategy": best["strategy"], "model": best["model"],
         "memory_drop_pct": 100 * (1 - last["memory_ratio"]),
         "efficiency_pct": 100 * last["efficiency"], "from": int(first["world_size"]),
         "to": int(last["world_size"])})]


def nightly_finding(comparison: Comparison, nights: tuple[str, str] | None) -> Finding:
    bad = comparison.regressions
    latest, against = nights or ("the latest night", "the nights before")
    if bad.empty:
        text = (f"No regression: {latest} stays within the noise of {against} in all "
                f"{comparison.matched:,} matched scenarios.")
    else:
        text = f"{len(bad):,} regression{'s' * (len(bad) != 1)} in {latest} against {against}"
        lost = bad[bad["metric"] == "status"]
        if len(lost):
            first = lost.iloc[0]
            text += (f"; {len(lost):,} scenario{'s' * (len(lost) != 1)} no longer ran ok "
                     f"(e.g. {first['model']} · {first['strategy']} on {first['partition']}: "
                     f"{first['new']})")
        worse = bad[bad["metric"] != "status"]
        if len(worse):
            top = worse.loc[worse["change"].abs().idxmax()]
            text += (f"; the largest change: {top['metric']} {100 * top['change']:+.0f}% for "
                     f"{top['model']} · {top['strategy']} on {top['partition']}")
        text += "."
    unknown = len(comparison.unknown)
    if few := int((comparison.unknown["why"] == FEW_RUNS).sum()):
        text += (f" {few:,} comparison{'s' * (few != 1)} of measured metrics "
                 f"(throughput, RSS, reserved) got no verdict, the noise unknown: {HOW_TO_KNOW}.")
    if shared := int((comparison.unknown["why"] == SHARED).sum()):
        text += (f" {shared:,} throughput comparison{'s' * (shared != 1)} got no verdict: "
                 f"the runs were timed while other work shared their CPUs; {HOW_TO_UNSHARE}.")
    return Finding("Nightly regressions", text,
                   {"regressions": len(bad), "matched": comparison.matched,
                    "unknown": unknown})


def hardware_findings(a: Analysis) -> list[Finding]:
    table = a.partitions
    if table.empty:
        return []
    partitions = sorted(table["partition"].unique())
    ref, out = partitions[0], []
    params = [c for c in table.columns if c not in ("partition", "strategy", "n_params", "peak",
                                                    "samples_per_s", "runs")]
    wide = table.pivot_table(index=params, columns="partition",
                             values=["samples_per_s", "peak"], aggfunc="first")
    for p in partitions[1:]:
        pair = wide.dropna(subset=[("samples_per_s", p), ("samples_per_s", ref)])
        if pair.empty:
            continue
        speed = (pair[("samples_per_s", p)] / pair[("samples_per_s", ref)]).median()
        memory = (pair[("peak", p)] / pair[("peak", ref)]).median()
        out.append(Finding(
            "Partitions side by side",
            f"{p} ran the same scenarios {speed:.2f}× as fast as {ref} (median over "
            f"{len(pair):,} scenarios), with {100 * (memory - 1):+.0f}% peak memory per rank.",
            {"partition": p, "reference": ref, "speed": speed, "memory": memory,
             "scenarios": len(pair)}))
    return out


def _first_setups(table: pd.DataFrame, frame: pd.DataFrame):
    """At most MAX_SETUPS hardware setups of `table`: one per partition first (each
    partition's setup with the most runs), then the others by their runs."""
    keys = [k for k in hardware_keys(frame) if k in table]
    if table.empty:
        return []
    cells = groups(table, keys)
    if keys:
        runs = _setup_runs(frame, keys, cells)
        cells = [c for _, c in sorted(zip(runs, cells, strict=True), key=lambda p: -p[0])]
    seen, first, rest = set(), [], []
    for cell in cells:
        partition = cell.values.get("partition")
        (rest if partition in seen else first).append(cell)
        seen.add(partition)
    return (first + rest)[:MAX_SETUPS]


def _setup_runs(frame: pd.DataFrame, keys: list[str], cells: list[Group]) -> list[int]:
    """The runs of `frame` in each cell's setup (its values of `keys`), 0 where none. The keys
    with one value in every row of `frame` are compared, not grouped by (7 of 9 hardware keys
    at 100k rows: _first_setups' 3 calls a report 82-102 -> 71-79 ms)."""
    constant = {k: frame[k].iloc[0] for k in keys if one_value(frame[k])}
    split = [k for k in keys if k not in constant]
    runs = frame.groupby(split, dropna=False).size() if split else None
    out = []
    for cell in cells:
        values = cell.values
        if any(pd.isna(values[k]) or values[k] != v for k, v in constant.items()):
            out.append(0)
        elif runs is None:
            out.append(len(frame))
        else:
            key = tuple(values[k] for k in split) if len(split) > 1 else values[split[0]]
            out.append(int(runs.get(key, 0)))
    return out


def _size(model: str) -> int:
    return MODELS[model].n_params if model in MODELS else 0
