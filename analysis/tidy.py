"""The analysis columns added to the tidy frame, and the keys comparisons group by.

`enrich` adds, on a copy (once per frame: analysis/analysis.py builds the report's
Analysis with it, `memsweep compare` its two sides):

| column | meaning |
|---|---|
| strategy | the strategy label (analysis/labels.py), "baseline" if none |
| color, marker | the strategy's colour (and marker, for points) on every figure |
| partition | as in the frame, "local" for runs outside Slurm |
| (axes) | an axis a record does not name (older than the axis) holds the axis default |
| peak_bytes | peak memory per rank: device allocated on GPU; on CPU the peak of live tensor |
| | bytes, or host RSS for a record without it (older than jobs/peak_probe.py) |
| rss_extra_bytes | CPU: peak host RSS - tensor peak (the runtime; < 0: tensors not resident) |
| held_bytes | model states a rank holds: parameters + gradients + fp32 master + optimizer states |
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.labels import strategy_labels, strategy_styles
from suite.axes import AXES, WORKLOAD_AXES

LOCAL = "local"
LEDGER = ("params_bytes", "grads_bytes", "master_params_bytes", "optimizer_state_bytes")
COLUMNS = ("strategy", "color", "marker", "partition", "peak_bytes", "rss_extra_bytes",
           "held_bytes")  # it adds


def enrich(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy(deep=False)  # copy-on-write: the frame's columns are shared, not copied
    for name, axis in AXES.items():  # a record from before an axis existed ran at its default
        if name in out and out[name].isna().any():
            out[name] = out[name].astype("object").fillna(axis.default)
    out["strategy"] = strategy_labels(out)
    styles = strategy_styles(out["strategy"].unique())
    out["color"] = out["strategy"].map({s: c for s, (c, _) in styles.items()}).astype("object")
    out["marker"] = out["strategy"].map({s: m for s, (_, m) in styles.items()}).astype("object")
    out["partition"] = out["partition"].astype("object").fillna(LOCAL)
    on_gpu = (out["device"] == "cuda") & out["peak_device_bytes"].notna()
    # On the CPU the RSS is mostly the runtime (Python, torch, DeepSpeed, gloo): the tensor
    # peak is what a strategy changes, the RSS what the runtime adds to it.
    cpu_peak = out["tensor_peak_bytes"].where(out["tensor_peak_bytes"].notna(),
                                              out["peak_host_rss_bytes"])
    out["peak_bytes"] = out["peak_device_bytes"].where(on_gpu, cpu_peak)
    out["rss_extra_bytes"] = (out["peak_host_rss_bytes"] - out["tensor_peak_bytes"]).where(
        ~on_gpu)
    out["held_bytes"] = out[list(LEDGER)].sum(axis=1, min_count=len(LEDGER))
    return out


def ok_rows(frame: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """The ok runs of `frame`; only `columns` of them when given (a filter copies every column
    it keeps: of a large frame, take those read)."""
    ok = frame["status"] == "ok"
    return frame[ok] if columns is None else frame.loc[ok, list(dict.fromkeys(columns))]


def statuses(frame: pd.DataFrame, keys: list[str], *, ok_wins: bool = True) -> pd.Series:
    """Per group of `keys`: the statuses of its runs joined by "/" in name order, e.g.
    "failed/oom"; just "ok" if any run is ok when `ok_wins` (computed per status, not per
    run: a history of many runs has few statuses)."""
    counts = frame.groupby([*keys, "status"], dropna=False, sort=False).size().unstack(
        "status", fill_value=0)
    names = sorted(counts.columns)
    seen = [np.where(counts[n].to_numpy() > 0, n, "") for n in names]
    joined = ["/".join(filter(None, row)) for row in zip(*seen, strict=True)] if seen else []
    out = pd.Series(joined, index=counts.index, dtype="object")
    if ok_wins and "ok" in counts:
        out[counts["ok"].to_numpy() > 0] = "ok"
    return out


def setup_keys(frame: pd.DataFrame) -> list[str]:
    """What a strategy is compared within: sweep, partition and every workload axis."""
    return [c for c in ("sweep", "partition", *WORKLOAD_AXES) if c in frame]


def hardware_keys(frame: pd.DataFrame) -> list[str]:
    """The setup without the model: where and how a model size is trained."""
    return [c for c in setup_keys(frame) if c != "model"]


def matching(frame: pd.DataFrame, values: dict) -> pd.Series:
    """Rows whose columns hold `values` (NaN matches NaN); keys not in `frame` are ignored."""
    mask = pd.Series(True, index=frame.index)
    for key, value in values.items():
        if key in frame:
            mask &= frame[key].isna() if pd.isna(value) else frame[key] == value
    return mask


def varying(frame: pd.DataFrame, columns) -> list[str]:
    """Those of `columns` that take more than one value in `frame`."""
    return [c for c in columns if c in frame and frame[c].nunique(dropna=False) > 1]


def one_value(column: pd.Series) -> bool:
    """Whether every row of `column` holds the same value, none missing: a key that splits no
    group (a groupby without it makes the same groups in the same order, and factorizing a
    column of 100k rows is most of a groupby's time; most hardware keys hold one value)."""
    if column.empty or pd.isna(column.iloc[0]):
        return False
    # a few rows first: a column that varies mostly shows it there, without the compare of
    # every row (of an object column of 100k rows, ~6 ms)
    return _all_equal(column.iloc[::max(1, len(column) // 64)], column.iloc[0]) and \
        _all_equal(column, column.iloc[0])


def _all_equal(column: pd.Series, value: object) -> bool:
    return bool((column == value).to_numpy(dtype=bool, na_value=False).all())


def peak_what(frame: pd.DataFrame) -> str:
    """What `peak_bytes` measures in `frame`: device memory, tensor memory (or host RSS, for
    records without a tensor peak) on the CPU, or both."""
    devices = set(frame["device"].dropna().unique())
    if devices == {"cuda"}:
        return "peak device memory"
    # two columns, not the frame's rows: this runs for many pages of a large frame
    cpu = (frame["device"] != "cuda") & frame["peak_host_rss_bytes"].notna()
    tensors = frame["tensor_peak_bytes"].notna()[cpu]
    on_cpu = ("peak tensor memory" if tensors.all() else "peak host RSS" if not tensors.any()
              else "peak tensor (or RSS) memory")  # RSS: records without a tensor peak
    return on_cpu if "cuda" not in devices else f"peak memory (device on GPU, {on_cpu[5:]} on CPU)"
