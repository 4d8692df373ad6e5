"""The largest model size that fits, per strategy and hardware: measured, then predicted.

Measured: the largest size with an ok run (a size "fits" if any of its runs is
ok). When the largest size that was run fits, the analytical model
(suite.memory_model.predict) extrapolates over the larger catalogue sizes:

    predicted peak(size) = predict(size).device_bytes + overhead
    overhead             = measured peak − predict(...).device_bytes at the largest size run

and the largest size whose predicted peak is within the device capacity is the
predicted answer. The capacity is `capacity` when given, else the number in
the GPU's name ("NVIDIA H100 80GB HBM3" → 80·10⁹ bytes); unknown on the CPU.
"""

from __future__ import annotations

import re

import pandas as pd

from analysis.predicted import scenario_values
from analysis.tidy import hardware_keys
from suite.axes import AXES
from suite.memory_model import predict
from suite.models import MODELS

COLUMNS = ("strategy", "largest_measured", "first_oom", "largest_predicted", "predicted_peak",
           "capacity", "basis")


def largest_fitting(frame: pd.DataFrame, *, capacity: int | None = None) -> pd.DataFrame:
    """One row per hardware setup and strategy of the enriched `frame`: see the module doc."""
    frame = frame[frame["n_params"].notna()]
    keys = [*hardware_keys(frame), "strategy"]
    if frame.empty:
        return pd.DataFrame(columns=[*keys[:-1], *COLUMNS])
    capacities = device_capacities(frame, capacity)
    # per setup, strategy and size: whether a run was ok, whether one ran out of memory
    flags = frame.assign(ok=frame["status"] == "ok", oom=frame["status"] == "oom")
    sizes = flags.groupby([*keys, "model"], dropna=False, sort=False).agg(
        ok=("ok", "any"), oom=("oom", "any"), n_params=("n_params", "max")).reset_index()
    ok = frame[frame["status"] == "ok"]
    peaks = ok.groupby([*keys, "model"], dropna=False, sort=False)["peak_bytes"].median()
    firsts = ok.groupby([*keys, "model"], dropna=False, sort=False)[
        [a for a in AXES if a in ok]].first()
    rows = []
    for key, group in sizes.sort_values("n_params").groupby(keys, dropna=False, sort=False):
        named = dict(zip(keys, key, strict=True))
        out = _largest(group, capacities.get(named.get("partition")))
        if out.pop("extrapolate"):
            at = (*key, out["largest_measured"])
            out.update(_predicted(firsts.loc[at].to_dict(), float(peaks.loc[at]),
                                  int(group["n_params"].iloc[-1]), out["capacity"]))
        rows.append({**named, **out})
    return pd.DataFrame(rows, columns=[*keys[:-1], *COLUMNS])


def device_capacities(frame: pd.DataFrame, capacity: int | None) -> dict[str, int | None]:
    """Bytes of device memory per partition: `capacity`, else from the GPU name, else None."""
    out = {}
    for partition, rows in frame.groupby("partition", dropna=False):
        sizes = [int(m.group(1)) * 10**9 for name in rows["gpu_model"].dropna().unique()
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


def _predicted(axes: dict, peak: float, n_params: int, capacity: int) -> dict:
    """The largest catalogue size past `n_params` whose predicted peak fits `capacity`."""
    values = scenario_values(axes)
    out: dict = {}
    try:
        overhead = peak - predict(values).device_bytes
        for name in _sizes_above(n_params):
            predicted = predict({**values, "model": name}).device_bytes + overhead
            if predicted > capacity:
                break
            out = {"largest_predicted": name, "predicted_peak": predicted,
                   "basis": "predicted"}
    except Exception:  # noqa: BLE001 - a scenario the memory model cannot predict
        return {}  # measured only
    return out


def _sizes_above(n_params: int) -> list[str]:
    """Catalogue sizes larger than `n_params`, smallest first."""
    return [s.name for s in sorted(MODELS.values(), key=lambda s: s.n_params)
            if s.n_params > n_params]
