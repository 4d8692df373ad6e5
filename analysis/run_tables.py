"""Tables of the runs for the report (appendix, failures, statuses, partitions, environment):
each takes the enriched frame and returns a DataFrame of display strings.

The appendix and the failures are aggregated per scenario and partition, so a
history of many nights gives one row per scenario, not one per run.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

import suite.axes  # looked up on each call, as suite/scenario_name.py does: a test may add an axis
from analysis.grouping import describe
from analysis.labels import order
from analysis.sources import Fingerprints
from analysis.tidy import hardware_keys, varying
from analysis.units import DASH, human_bytes, human_count, human_rate
from results.schema import STATUSES
from suite.models import MODELS
from suite.scenario_name import scenario_name

LOG_LINES = 6  # lines of a failed run's log tail shown on the failures page
# what failure_groups reads of a run besides its axes (of a large frame's runs not ok, a copy
# of only these)
_FAILURE_READS = {"scenario_id", "partition", "status", "run_id", "night", "started_at",
                  "reason", "log_tail", "source_dir", "strategy", "sweep"}


def status_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Runs per status, in the schema's order of statuses."""
    counts = frame["status"].value_counts()
    return pd.DataFrame({"status": [s for s in STATUSES if s in counts],
                         "runs": [int(counts[s]) for s in STATUSES if s in counts]})


def status_line(frame: pd.DataFrame) -> str:
    """`1,512 runs: 1,260 ok, 246 oom, 6 failed`."""
    counts = status_counts(frame)
    return f"{len(frame):,} runs: " + ", ".join(f"{n:,} {s}" for s, n in counts.itertuples(
        index=False))


def sorted_scenarios(frame: pd.DataFrame, *, setup_first: bool = False) -> pd.DataFrame:
    """Rows by model size, then strategy (baseline first), then setup (or setup first)."""
    if frame.empty:
        return frame
    keys = [k for k in hardware_keys(frame) if k in frame]
    sort = frame[keys].copy() if setup_first else pd.DataFrame(index=frame.index)
    if "model" in frame:
        sizes = {m: (MODELS[m].n_params if m in MODELS else float("inf"))
                 for m in frame["model"].dropna().unique()}
        sort["_m"] = frame["model"].map(sizes)
    if "strategy" in frame:
        sort["_s"] = frame["strategy"].map({s: i for i, s in enumerate(order(
            frame["strategy"].dropna()))})
    if not setup_first:
        sort = pd.concat([sort, frame[keys]], axis=1)
    return frame.loc[sort.sort_values(list(sort.columns), na_position="last").index]


def appendix_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per scenario and partition: its runs and statuses, medians of the ok runs."""
    if frame.empty:
        return pd.DataFrame()
    keys = [k for k in hardware_keys(frame) if k != "sweep"]
    g = frame.groupby(["scenario_id", "partition"], dropna=False, sort=False)
    agg = g.agg(model=("model", "first"), n_params=("n_params", "max"),
                strategy=("strategy", "first"), runs=("run_id", "size"),
                nights=("night", "nunique"),
                **{k: (k, "first") for k in keys if k != "partition"})
    group = g.ngroup().to_numpy()  # each run's row of `agg`
    agg.insert(agg.columns.get_loc("nights") + 1, "status",
               _statuses(frame["status"], group, len(agg)))
    values = ["peak_bytes", "held_bytes", "samples_per_s", "final_loss"]
    # the ok runs grouped by their row number, not by the two keys again (a second
    # factorization of 100k strings)
    ok = (frame["status"] == "ok").to_numpy()
    med = frame.loc[ok, values].groupby(group[ok]).median().reindex(range(len(agg)))
    agg = agg.join(med.set_axis(agg.index)).reset_index()
    agg = sorted_scenarios(agg)
    shown = varying(agg, keys)
    return pd.DataFrame({
        "model": agg["model"],
        "params": agg["n_params"].map(lambda n: DASH if pd.isna(n) else human_count(int(n))),
        "strategy": agg["strategy"],
        "setup": [describe(dict(zip(shown, v, strict=True))) for v in
                  agg[shown].itertuples(index=False)] if shown else "",
        "runs": agg["runs"].map("{:,}".format), "nights": agg["nights"].astype(str),
        "status": agg["status"],
        "peak/rank": agg["peak_bytes"].map(human_bytes),
        "held/rank": agg["held_bytes"].map(human_bytes),
        "samples/s": agg["samples_per_s"].map(human_rate),
        "loss": agg["final_loss"].map(lambda v: DASH if pd.isna(v) else f"{v:.4g}"),
    }).reset_index(drop=True)


def _statuses(status: pd.Series, group: np.ndarray, n_groups: int) -> list[str]:
    """Per group (`group`: each run's group number, 0 to n_groups - 1): `ok` when all its
    runs are ok, else counts: `ok 5, oom 1` (a run without a status is not counted). One
    count of (group, status) pairs, not a value_counts per group: 486 groups, 110 -> 5 ms."""
    codes, names = pd.factorize(status)  # a missing status: -1
    known = codes >= 0
    counts = np.bincount(group[known] * len(names) + codes[known],
                         minlength=n_groups * len(names)).reshape(n_groups, len(names))
    column = {name: i for i, name in enumerate(names)}
    listed = [(k, column[k]) for k in STATUSES if k in column]  # in the schema's order
    out = []
    for row in counts:
        present = np.flatnonzero(row)
        out.append(str(names[present[0]]) if len(present) == 1 else
                   ", ".join(f"{k} {int(row[i])}" for k, i in listed if row[i]))
    return out


def failure_groups(frame: pd.DataFrame) -> pd.DataFrame:
    """Every run that is not ok, grouped when the same scenario ended with the same status on
    several nights or repetitions: status, runs, nights, the latest reason and log tail."""
    shown = varying(frame, [k for k in hardware_keys(frame) if k != "sweep"])
    read = [c for c in frame.columns if c in suite.axes.AXES or c in _FAILURE_READS]
    rows = frame.loc[frame["status"] != "ok", read].sort_values("started_at",
                                                                  na_position="first")
    columns = ["status", "config", "runs", "run_ids", "nights", "reason", "log_tail",
               "source_dir"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    keys = ["scenario_id", "partition", "status"]
    g = rows.groupby(keys, dropna=False, sort=False)
    last = g.tail(1).set_index(keys)  # the latest run of each group: its reason and log
    info = g.agg(runs=("run_id", "size"), first=("night", "min"), final=("night", "max"),
                 nights=("night", "nunique"))
    ids = rows[g["run_id"].transform("size") <= 6].groupby(keys, dropna=False, sort=False)[
        "run_id"].agg(lambda r: ", ".join(sorted(set(r))))
    table = last.join(info).join(ids.rename("run_ids")).reset_index()
    table["config"] = _config_labels(table, shown)
    table["nights"] = [(f if pd.notna(f) else DASH) if n <= 1 else f"{f}..{z} ({n} nights)"
                       for f, z, n in
                       zip(table["first"], table["final"], table["nights"], strict=True)]
    table["reason"] = table["reason"].fillna(DASH)
    table["log_tail"] = table["log_tail"].map(last_lines)
    table["run_ids"] = table["run_ids"].fillna("")
    if "source_dir" not in table:
        table["source_dir"] = ""
    return sorted_scenarios(table)[columns].reset_index(drop=True)


def _config_labels(table: pd.DataFrame, keys: list[str]) -> list[str]:
    """config_label of each row of `table`, a name per distinct scenario (a scenario's groups
    of other statuses and partitions share it). Each row as a dict of the columns a name
    reads, not iterrows' Series of every column (446 rows: 110 -> 20 ms)."""
    named = [c for c in table.columns if c in suite.axes.AXES or c == "partition"]
    labels: dict[tuple, str] = {}
    out = []
    for values in zip(*(table[c].tolist() for c in named), strict=True):
        same = (values, tuple(map(type, values)))  # 1 == True, but they name differently
        if same not in labels:
            labels[same] = config_label(dict(zip(named, values, strict=True)), keys)
        out.append(labels[same])
    return out


def config_label(row: Mapping, keys: list[str]) -> str:
    """`1.3b · 16 ranks · zero_stage=3 · gpu-h100`: the scenario's name, as `memsweep run` and
    `status` print it (suite/scenario_name.py), then its partition if `keys` has it. `row`:
    a run's values by column (a dict, or a Series)."""
    name = scenario_name(row)
    return name + (f" · {row['partition']}" if "partition" in keys else "")


def last_lines(text: object, n: int = LOG_LINES) -> str:
    if pd.isna(text) or not str(text).strip():
        return ""
    return "\n".join(str(text).rstrip().splitlines()[-n:])


def environment_table(fingerprints: Fingerprints) -> pd.DataFrame:
    """Each fingerprint entry (host, CPU, GPU, versions, ...) with its distinct values.

    Entries that differ on every run (dates, Slurm job ids) are left out: they say
    nothing about the environment as a whole.
    """
    rows = []
    for key, counts in fingerprints.values.items():
        many = key in fingerprints.overflow or len(counts) > 3
        if many and (key in fingerprints.overflow or len(counts) >= fingerprints.n_records):
            continue
        shown = f"{len(counts)} distinct values" if many else ", ".join(sorted(counts))
        rows.append((key, shown))
    return pd.DataFrame(rows, columns=["fingerprint", "value"])


def partitions_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per partition: its hardware, nights, runs."""
    if frame.empty:
        return pd.DataFrame()
    g = frame.groupby("partition", dropna=False)

    def names(col: str):
        return g[col].agg(lambda s: ", ".join(sorted(map(str, s.dropna().unique()))) or DASH)

    return pd.DataFrame({"partition": list(g.groups), "GPU": names("gpu_model").to_numpy(),
                         "CPU": names("cpu_model").to_numpy(),
                         "hosts": g["hostname"].nunique().to_numpy(),
                         "nights": g["night"].nunique().to_numpy(),
                         "runs": g.size().map("{:,}".format).to_numpy()})
