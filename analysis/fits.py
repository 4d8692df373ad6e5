"""The largest model size that fits, per strategy and hardware: measured, then predicted.

Measured: the largest size with an ok run (a size "fits" if any of its runs is
ok). When the largest size that was run fits, the analytical model extrapolates
over the larger catalogue sizes, counting the budget as `plan --predict` and the
capacity search count it (suite.peak_model.budget_need: the tensor peak plus the
runtime term on the CPU, calibrated per engine by `memsweep bench-runtime`):

    predicted need(size) = budget_need(size) + overhead
    overhead             = measured need − budget_need(...) at the largest size run
    measured need        = measured peak (+ the runtime term where the peak is the tensor
                           peak; host RSS already holds the runtime)

and the largest size whose predicted need is within the device capacity is the
predicted answer (`predicted_peak`: that need). The capacity is `capacity` when given, else
the number in the GPU's name ("NVIDIA H100 80GB HBM3" → 80·10⁹ bytes); unknown on the CPU.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from analysis.predicted import scenario_values
from analysis.tidy import hardware_keys
from suite.axes import AXES
from suite.models import MODELS, model_spec
from suite.peak_model import budget_need
from suite.prediction import runtime_bytes

COLUMNS = ("strategy", "largest_measured", "first_oom", "largest_predicted", "predicted_peak",
           "capacity", "basis")


def largest_fitting(frame: pd.DataFrame, *, capacity: int | None = None) -> pd.DataFrame:
    """One row per hardware setup and strategy of the enriched `frame`: see the module doc."""
    keys = [*hardware_keys(frame), "strategy"]
    read = [*keys, "model", "status", "n_params", "peak_bytes", "device", "tensor_peak_bytes",
            "gpu_model", *AXES]  # only these are copied by the filters below
    frame = frame[[c for c in dict.fromkeys(read) if c in frame]]
    if frame["n_params"].isna().any():  # filtered only then: a filter copies every column
        frame = frame[frame["n_params"].notna()]
    if frame.empty:
        return pd.DataFrame(columns=[*keys[:-1], *COLUMNS])
    capacities = device_capacities(frame, capacity)
    # per setup, strategy and size: whether a run was ok, whether one ran out of memory
    status = frame["status"]
    by_size = frame.groupby([*keys, "model"], dropna=False, sort=False)
    size_of = by_size.ngroup().to_numpy()  # each run's (setup, strategy, size) number
    sizes = pd.DataFrame({"ok": status == "ok", "oom": status == "oom",
                          "n_params": frame["n_params"]}).groupby(size_of, sort=False).agg(
        ok=("ok", "any"), oom=("oom", "any"), n_params=("n_params", "max"))
    sizes = sizes.join(by_size.size().reset_index()[[*keys, "model"]]) \
        .sort_values("n_params")
    # whole columns taken once, each group's positions in them (not 81 copies of groups)
    models, number = np.array(sizes["model"].tolist(), dtype=object), sizes.index.to_numpy()
    ok, oom, n_params = (sizes[c].to_numpy() for c in ("ok", "oom", "n_params"))
    rows, extrapolated = [], {}
    for key, at in _setups(sizes, keys):
        named = dict(zip(keys, key, strict=True))
        out = _largest(models[at].tolist(), ok[at], oom[at],
                       capacities.get(named.get("partition")))
        if out.pop("extrapolate"):  # from its largest size run, predicted below
            extrapolated[len(rows)] = (number[at[-1]], int(n_params[at[-1]]))
        rows.append({**named, **out})
    needs: dict[tuple, int] = {}  # the same scenarios on each partition: predicted once
    ok_runs = _ok_runs(frame, size_of, [n for n, _ in extrapolated.values()])
    for i, (size, n_params) in extrapolated.items():
        rows[i].update(_predicted(*ok_runs[size], n_params, rows[i]["capacity"], needs))
    return pd.DataFrame(rows, columns=[*keys[:-1], *COLUMNS])


def _setups(sizes: pd.DataFrame, keys: list[str]) -> list[tuple[tuple, np.ndarray]]:
    """Per setup and strategy (`keys`) in order of first appearance: its key and the positions
    of its rows of `sizes` (the positions, not a copy of each group: 81 groups, 0.2 s)."""
    grouped = sizes.groupby(keys, dropna=False, sort=False)
    number = grouped.ngroup().to_numpy()
    order = np.argsort(number, kind="stable")
    starts = np.searchsorted(number[order], np.arange(grouped.ngroups + 1))
    named = [k if isinstance(k, tuple) else (k,) for k in grouped.size().index]
    return [(key, order[starts[g]:starts[g + 1]]) for g, key in enumerate(named)]


def _ok_runs(frame: pd.DataFrame, size_of: np.ndarray,
             wanted: list[int]) -> dict[int, tuple[dict, float, bool]]:
    """Of the ok runs of the sizes numbered `wanted` (`size_of` each run's number): per size,
    the axes of its runs (each axis's first value given), the median peak, and whether the
    peak is host RSS, which holds the runtime (a CPU record without a tensor peak)."""
    # positions of those runs in whole columns, not a copy of their 36 columns grouped
    # (100k runs, 61 sizes: 21-24 -> 14-15 ms)
    at = np.flatnonzero((frame["status"] == "ok").to_numpy() & np.isin(size_of, wanted))
    number = size_of[at]
    axes = _first_values(frame, at, number, [a for a in AXES if a in frame])
    peaks = frame["peak_bytes"].iloc[at].set_axis(number).groupby(level=0).median()
    rss = ((frame["device"] != "cuda") & frame["tensor_peak_bytes"].isna()).to_numpy()[at]
    with_rss = set(number[rss].tolist())
    return {n: (axes[n], float(peaks[n]), n in with_rss) for n in axes}


def _first_values(frame: pd.DataFrame, at: np.ndarray, number: np.ndarray,
                  columns: list[str]) -> dict[int, dict]:
    """Per number of `number` (the runs at positions `at`): each of `columns`' first value
    given, as groupby's first: the values of each number's first run, then groupby's first
    only for the columns missing a value there (usually none)."""
    firsts = np.unique(number, return_index=True)[1]
    values = frame.iloc[at[firsts]][columns].set_axis(number[firsts])
    gaps = [c for c in columns if values[c].isna().any()]
    if gaps:
        values[gaps] = frame.iloc[at][gaps].set_axis(number).groupby(level=0).first()
    return values.to_dict("index")


def device_capacities(frame: pd.DataFrame, capacity: int | None) -> dict[str, int | None]:
    """Bytes of device memory per partition: `capacity`, else from the GPU name, else None."""
    out = {}
    for partition, names in frame.groupby("partition", dropna=False)["gpu_model"]:
        sizes = [int(m.group(1)) * 10**9 for name in names.dropna().unique()
                 if (m := re.search(r"(\d+)\s*GB", str(name)))]
        out[partition] = capacity or (min(sizes) if sizes else None)
    return out


def _largest(models: list, ok: np.ndarray, oom: np.ndarray, capacity: int | None) -> dict:
    """The measured answer from one setup and strategy's sizes (smallest first): their
    `models`, whether any run of each was `ok`, whether one ran out of memory (`oom`)."""
    fitting = [m for m, fits in zip(models, ok, strict=True) if fits]
    ooms = [m for m, fits, out in zip(models, ok, oom, strict=True) if not fits and out]
    return {"largest_measured": fitting[-1] if fitting else None,
            "first_oom": ooms[0] if ooms else None, "largest_predicted": None,
            "predicted_peak": None, "capacity": capacity, "basis": "measured",
            # the largest size run fits: the analytical model goes on past it
            "extrapolate": bool(fitting) and models[-1] == fitting[-1]
            and capacity is not None}


def _predicted(axes: dict, peak: float, runtime_in: bool, n_params: int,
               capacity: int, needs: dict[tuple, int]) -> dict:
    """The largest catalogue size past `n_params` whose predicted need fits `capacity`;
    `runtime_in`: the measured `peak` is host RSS, which holds the runtime term already;
    `needs` keeps the budget needs computed so far."""
    values = scenario_values(axes)
    out: dict = {}
    try:
        runtime = 0 if runtime_in else runtime_bytes(values, model_spec(values["model"]).n_params)
        overhead = peak + runtime - _need(values, needs)
        for name in _sizes_above(n_params):
            predicted = _need({**values, "model": name}, needs) + overhead
            if predicted > capacity:
                break
            out = {"largest_predicted": name, "predicted_peak": predicted,
                   "basis": "predicted"}
    except Exception:  # noqa: BLE001 - a scenario the memory model cannot predict
        return {}  # measured only
    return out


def _need(values: dict, needs: dict[tuple, int]) -> int:
    try:
        key = tuple(values.items())
        hash(key)
    except TypeError:  # an unhashable value: not kept
        return budget_need(values)
    if key not in needs:
        needs[key] = budget_need(values)
    return needs[key]


def _sizes_above(n_params: int) -> list[str]:
    """Catalogue sizes larger than `n_params`, smallest first."""
    return [s.name for s in sorted(MODELS.values(), key=lambda s: s.n_params)
            if s.n_params > n_params]
