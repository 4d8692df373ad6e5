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
    # where a CPU record has no tensor peak, peak_bytes is the host RSS: the runtime is in it
    flags = frame.assign(ok=frame["status"] == "ok", oom=frame["status"] == "oom",
                         rss=(frame["device"] != "cuda") & frame["tensor_peak_bytes"].isna())
    sizes = flags.groupby([*keys, "model"], dropna=False, sort=False).agg(
        ok=("ok", "any"), oom=("oom", "any"), n_params=("n_params", "max")).reset_index()
    # of the ok runs, per size: their groups (`ok` a key), not a copy of them
    ok = flags.groupby([*keys, "model", "ok"], dropna=False, sort=False)
    peaks, rss = ok["peak_bytes"].median(), ok["rss"].any()
    firsts = ok[[a for a in AXES if a in frame]].first()
    rows = []
    needs: dict[tuple, int] = {}  # the same scenarios on each partition: predicted once
    for key, group in sizes.sort_values("n_params").groupby(keys, dropna=False, sort=False):
        named = dict(zip(keys, key, strict=True))
        out = _largest(group, capacities.get(named.get("partition")))
        if out.pop("extrapolate"):
            at = (*key, out["largest_measured"], True)
            out.update(_predicted(firsts.loc[at].to_dict(), float(peaks.loc[at]),
                                  bool(rss.loc[at]), int(group["n_params"].iloc[-1]),
                                  out["capacity"], needs))
        rows.append({**named, **out})
    return pd.DataFrame(rows, columns=[*keys[:-1], *COLUMNS])


def device_capacities(frame: pd.DataFrame, capacity: int | None) -> dict[str, int | None]:
    """Bytes of device memory per partition: `capacity`, else from the GPU name, else None."""
    out = {}
    for partition, names in frame.groupby("partition", dropna=False)["gpu_model"]:
        sizes = [int(m.group(1)) * 10**9 for name in names.dropna().unique()
                 if (m := re.search(r"(\d+)\s*GB", str(name)))]
        out[partition] = capacity or (min(sizes) if sizes else None)
    return out


def _largest(sizes: pd.DataFrame, capacity: int | None) -> dict:
    """The measured answer from one setup and strategy's sizes (smallest first)."""
    fitting = sizes[sizes["ok"]]["model"].tolist()
    ooms = sizes[~sizes["ok"] & sizes["oom"]]["model"].tolist()
    return {"largest_measured": fitting[-1] if fitting else None,
            "first_oom": ooms[0] if ooms else None, "largest_predicted": None,
            "predicted_peak": None, "capacity": capacity, "basis": "measured",
            # the largest size run fits: the analytical model goes on past it
            "extrapolate": bool(fitting) and sizes["model"].iloc[-1] == fitting[-1]
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
