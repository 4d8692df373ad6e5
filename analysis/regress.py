"""Regressions of NEW against BASELINE records, only where the noise is known.

Matching. Nightly (the two sides share a partition): scenarios are matched by
`scenario_id` (the run_id without the repetition) and partition, then, for
what is left, by the scenario parameters and partition (a renamed sweep, new
run settings). Hardware (no partition in common, one on each side): by the
scenario parameters alone.

Per matched scenario and metric, each side's value is the median over its ok
runs (repetitions, nights). Two kinds of metric:
  - exact (the ledger's memory held; the measured peak of live tensor bytes; the
    allocator's peak on a GPU): the same code
    gives the same bytes, so the floor alone is the threshold, from any number of runs;
  - measured (throughput, peak host RSS, peak reserved device memory): they swing
    from run to run far more than within one run (a shared machine: -25% and +60%
    between two runs an hour apart), so their noise is measured between runs. A side's
    relative noise σ is the standard deviation / median over its ok runs, and it is
    known only from MIN_SAMPLES (3) ok runs or more (repetitions, nights); for
    throughput, at least the spread of the timed steps within a run (median over runs
    of (IQR/1.349)/median step · 1.2533/√steps, the standard error of that median).
    With fewer runs on either side the verdict is "noise unknown", never a regression.
    Throughput is also "noise unknown" where a side's CPU runs were timed while other work
    shared their CPUs (analysis/shared_cpus.py): their repetitions run back to back under
    the same load, so their spread does not see the load moving between the two sides
    (an A/A run under load 6-8 gave +144% and +92% "better" beyond 3 x that spread).
change = NEW / BASELINE − 1; noise = √(σ_new² + σ_baseline²);
threshold = max(k · noise, floor) for measured metrics, the floor for exact ones.
A regression is a change beyond the threshold in the worse direction (more
memory, fewer samples/s), or a scenario ok in BASELINE and never ok in NEW.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from analysis.shared_cpus import shared_load
from analysis.tidy import ok_rows, statuses
from suite.axes import AXES
from suite.errors import UserInputError


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    k: float = 3.0  # noise multiples a change must exceed
    memory_floor: float = 0.02  # smallest relative memory increase flagged
    throughput_floor: float = 0.05  # smallest relative throughput loss flagged

    def __post_init__(self) -> None:
        if not (math.isfinite(self.k) and self.k >= 0):
            raise UserInputError(f"k must be a number >= 0, got {self.k}", key="-k",
                                 fix="write e.g. -k 3 (changes beyond 3 noise levels)")
        for name in ("memory_floor", "throughput_floor"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 <= value < 1):
                flag = "--" + name.replace("_", "-")
                raise UserInputError(f"{flag} must be a percentage from 0 to 100, got "
                                     f"{100 * value:g}", key=flag, fix=f"write e.g. {flag} 5")


@dataclass(frozen=True)
class Metric:
    name: str
    column: str
    worse: int  # +1: higher is worse (memory), -1: lower is worse (throughput)
    exact: bool  # deterministic: the floor alone is the threshold
    floor: str  # the Thresholds field of its floor
    timed: bool = False  # a speed: no verdict where a side's CPUs were shared while timed


DEFAULT_THRESHOLDS = Thresholds()
MIN_SAMPLES = 3  # ok runs per side before a measured metric's noise counts as known
UNKNOWN = "noise unknown"
HOW_TO_KNOW = (f"a verdict on a measured metric needs {MIN_SAMPLES} or more ok runs on each "
               f"side: set repetitions = {MIN_SAMPLES} in the sweep, or compare ranges of "
               f"{MIN_SAMPLES}+ nights (--history DIR NIGHT1..NIGHT3 BASE1..BASE3)")
FEW_RUNS = f"fewer than {MIN_SAMPLES} ok runs on a side"
SHARED = "CPUs shared while timed"
HOW_TO_UNSHARE = ("a throughput verdict on the CPU needs runs timed with their CPUs to "
                  "themselves: run the sweep on an exclusive node (sbatch --exclusive) or a "
                  "quiet machine")
METRICS = (Metric("tensor peak", "tensor_peak_bytes", +1, True, "memory_floor"),
           Metric("peak allocated", "peak_device_bytes", +1, True, "memory_floor"),
           Metric("peak RSS", "peak_host_rss_bytes", +1, False, "memory_floor"),
           Metric("peak reserved", "peak_device_reserved_bytes", +1, False, "memory_floor"),
           Metric("memory held", "held_bytes", +1, True, "memory_floor"),
           Metric("throughput", "samples_per_s", -1, False, "throughput_floor", timed=True))
LABELS = ("model", "strategy", "color", "partition", "world_size", "device")
TABLE_COLUMNS = (*LABELS, "metric", "baseline", "new", "change", "noise", "threshold", "verdict",
                 "why", "runs", "runs_base")


@dataclass(frozen=True, kw_only=True)
class Comparison:
    mode: str  # "nightly" or "hardware"
    table: pd.DataFrame  # one row per matched scenario and metric, plus status rows
    thresholds: Thresholds
    new_scenarios: int
    baseline_scenarios: int
    matched: int

    @property
    def regressions(self) -> pd.DataFrame:
        return self.table[self.table["verdict"] == "regression"]

    @property
    def unknown(self) -> pd.DataFrame:
        """Rows of measured metrics without enough runs for a verdict."""
        return self.table[self.table["verdict"] == UNKNOWN]


def compare(new: pd.DataFrame, baseline: pd.DataFrame,
            thresholds: Thresholds = DEFAULT_THRESHOLDS) -> Comparison:
    """NEW against BASELINE, both enriched frames (analysis/tidy.py)."""
    shared = set(new["partition"]) & set(baseline["partition"])
    params = [a for a in AXES if a in new and a in baseline]
    if shared or new.empty or baseline.empty:
        mode, tries = "nightly", (["scenario_id", "partition"], [*params, "partition"])
    else:
        _one_partition_each(new, baseline)
        mode, tries = "hardware", (params,)
    a, b = side_stats(new, tries[0], params), side_stats(baseline, tries[0], params)
    new_scenarios, baseline_scenarios = len(a), len(b)
    pairs = []
    for keys in tries:
        joined = a.merge(b, on=keys, suffixes=("", "_base"))
        pairs.append(joined)
        done = _keys_index(joined, keys)
        a = a[~_keys_index(a, keys).isin(done)]
        b = b[~_keys_index(b, keys).isin(done)]
    matched = pd.concat(pairs, ignore_index=True)
    if matched.empty:
        table = pd.DataFrame(columns=TABLE_COLUMNS)
    else:
        table = pd.concat([_metric_rows(matched, m, thresholds) for m in METRICS]
                          + [_status_rows(matched)], ignore_index=True)
    return Comparison(mode=mode, table=table, thresholds=thresholds,
                      new_scenarios=new_scenarios, baseline_scenarios=baseline_scenarios,
                      matched=len(matched))


def _keys_index(table: pd.DataFrame, keys: list[str]) -> pd.MultiIndex:
    """The rows' `keys` as an index to match on (built from those columns alone: set_index
    would first drop them from a copy of every column, ~20 ms per call at 100k records)."""
    return pd.MultiIndex.from_frame(table[keys])


def side_stats(frame: pd.DataFrame, keys: list[str], params: list[str]) -> pd.DataFrame:
    """Per scenario: runs, statuses, median and relative noise of each metric, labels."""
    if frame.empty:
        return pd.DataFrame(columns=[*dict.fromkeys([*keys, *params, *LABELS])])
    groups = frame.groupby(keys, dropna=False, sort=False)
    out = groups[[c for c in dict.fromkeys([*params, *LABELS]) if c not in keys]].first()
    out["runs"] = groups.size()
    out["statuses"] = statuses(frame, keys, ok_wins=False).reindex(out.index)
    read = [*keys, *(m.column for m in METRICS), "timed_steps", "step_time_iqr_s", "step_time_s",
            "load_average", "cpus", "device"]
    ok = ok_rows(frame, [c for c in read if c in frame]).assign(step_noise=_step_noise,
                                                                 shared_load=shared_load)
    ok_groups = ok.groupby(keys, dropna=False, sort=False)
    out["ok_runs"] = ok_groups.size().reindex(out.index, fill_value=0)
    # the highest load over its CPUs one of the scenario's ok runs was timed at (NaN: none shared)
    out["shared_load"] = ok_groups["shared_load"].max().reindex(out.index)
    for m in METRICS:
        if m.column not in ok:  # a frame without the column (older records): all unknown
            out[m.column], out[f"{m.column}_noise"] = float("nan"), float("nan")
            continue
        values = ok_groups[m.column]
        median = values.median().astype("float64")
        spread = (values.std(ddof=1).astype("float64") / median).fillna(0.0)
        out[m.column] = median
        out[f"{m.column}_noise"] = spread
    out["samples_per_s_noise"] = pd.concat(
        [out["samples_per_s_noise"], ok_groups["step_noise"].median()], axis=1).max(axis=1)
    return out.reset_index()


def _step_noise(ok: pd.DataFrame) -> pd.Series:
    steps = ok["timed_steps"].astype("float64").clip(lower=1)
    return (ok["step_time_iqr_s"] / 1.349 / ok["step_time_s"] * 1.2533 / steps ** 0.5).fillna(0)


def _metric_rows(matched: pd.DataFrame, m: Metric, t: Thresholds) -> pd.DataFrame:
    rows = matched.dropna(subset=[m.column, f"{m.column}_base"])
    rows = rows[rows[f"{m.column}_base"] > 0]
    noise = (rows[f"{m.column}_noise"] ** 2 + rows[f"{m.column}_noise_base"] ** 2) ** 0.5
    floor = getattr(t, m.floor)
    threshold = pd.Series(floor, index=rows.index) if m.exact else (t.k * noise).clip(lower=floor)
    enough = pd.Series(True, index=rows.index) if m.exact else \
        (rows["ok_runs"] >= MIN_SAMPLES) & (rows["ok_runs_base"] >= MIN_SAMPLES)
    shared = (rows["shared_load"].notna() | rows["shared_load_base"].notna()) if m.timed else \
        pd.Series(False, index=rows.index)
    known = enough & ~shared
    change = rows[m.column] / rows[f"{m.column}_base"] - 1
    verdict = pd.Series("same", index=rows.index, dtype="object")
    verdict[m.worse * change > threshold] = "regression"
    verdict[-m.worse * change > threshold] = "better"
    verdict[~known] = UNKNOWN
    why = pd.Series("", index=rows.index, dtype="object")
    why[shared] = SHARED
    why[~enough] = FEW_RUNS
    return pd.DataFrame({
        **{c: rows[c] for c in LABELS if c in rows}, "metric": m.name,
        "baseline": rows[f"{m.column}_base"], "new": rows[m.column], "change": change,
        "noise": 0.0 if m.exact else noise.where(known), "threshold": threshold.where(known),
        "verdict": verdict, "why": why, "runs": rows["ok_runs"],
        "runs_base": rows["ok_runs_base"]})


def _status_rows(matched: pd.DataFrame) -> pd.DataFrame:
    """Scenarios ok in the baseline whose runs in NEW all failed (e.g. now OOM)."""
    rows = matched[(matched["ok_runs"] == 0) & (matched["ok_runs_base"] > 0)]
    return pd.DataFrame({
        **{c: rows[c] for c in LABELS if c in rows}, "metric": "status",
        "baseline": "ok", "new": rows["statuses"], "change": float("nan"),
        "noise": float("nan"), "threshold": float("nan"),
        "verdict": pd.Series("regression", index=rows.index, dtype="object"), "why": "",
        "runs": rows["ok_runs"], "runs_base": rows["ok_runs_base"]})


def _one_partition_each(new: pd.DataFrame, baseline: pd.DataFrame) -> None:
    a, b = sorted(set(new["partition"])), sorted(set(baseline["partition"]))
    if len(a) > 1 or len(b) > 1:
        raise UserInputError(
            f"NEW holds partitions {', '.join(a)} and BASELINE {', '.join(b)}, none in common: "
            "a hardware comparison needs one partition on each side",
            fix="pass the folders (or nights) of one partition as NEW and of one other as "
                "BASELINE")
