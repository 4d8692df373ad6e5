"""The analytical memory model's prediction next to each row of the tidy frame.

`suite.memory_model.predict` is evaluated once per distinct combination of
scenario parameters, not per record. A scenario it cannot predict (a model
size or axis value it does not know) gets empty predictions.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from analysis.tidy import one_value
from suite.axes import AXES
from suite.memory_model import predict

COLUMNS = ("pred_held_bytes", "pred_activation_bytes", "pred_offloaded_bytes",
           "pred_device_bytes")


def with_predictions(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` plus COLUMNS (bytes per rank; NaN where the model cannot predict)."""
    return pd.concat([frame, pd.DataFrame(predictions(frame), columns=list(COLUMNS),
                                          index=frame.index)], axis=1)


def inputs(frame: pd.DataFrame) -> list[str]:
    """The columns of `frame` that predictions reads: the scenario axes it holds."""
    return [a for a in AXES if a in frame]


def predictions(frame: pd.DataFrame) -> np.ndarray:
    """COLUMNS of each row of `frame`, a row of 4 floats each (NaN where the model cannot
    predict); only `inputs(frame)` are read."""
    axes = inputs(frame)
    if frame.empty or not axes:
        return np.full((len(frame), len(COLUMNS)), np.nan)
    # once per distinct combination of the axes (a history repeats each scenario many times)
    which = _combinations(frame, axes)
    _, first = np.unique(which, return_index=True)  # a row of each combination, in code order
    firsts = frame[axes].iloc[first]
    per_combo = [_predict(scenario_values(dict(zip(axes, key, strict=True))))
                 for key in zip(*(firsts[a].tolist() for a in axes), strict=True)]
    return np.asarray(per_combo, dtype="float64")[which]


def _combinations(frame: pd.DataFrame, axes: list[str]) -> np.ndarray:
    """A code per row, the same for rows whose `axes` hold the same values (a missing value
    as one more value), from 0 in order of appearance. A column at a time: grouping by all
    of them at once holds a code array per column (a million rows: 300 MB). The codes so far
    and a column's are combined by arithmetic, renumbered only where the next product could
    overflow int64 and once at the end (a renumbering per column was half of the 58 ms at
    100k rows and 28 axes); a column of one value in every row is left out."""
    codes = np.zeros(len(frame), dtype=np.int64)
    bound = 1  # every code so far is below it
    for axis in axes:
        if one_value(frame[axis]):  # splits no combination: a compare, not a factorize
            continue  # (most axes of a history; 100k rows: 1.8 -> 0.7 ms a string column)
        values, uniques = pd.factorize(frame[axis], use_na_sentinel=False)
        if bound * len(uniques) >= 2**62:
            codes, seen = pd.factorize(codes)
            bound = len(seen)
        codes = codes * len(uniques) + values
        bound *= len(uniques)
    return pd.factorize(codes)[0]


def scenario_values(values: dict) -> dict:
    """Every axis's value, as `Scenario.values` has them: a missing or empty one at its
    default, numpy scalars as Python values."""
    out = {name: axis.default for name, axis in AXES.items()}
    for name, value in values.items():
        if name in out and value is not None and not pd.isna(value):
            out[name] = value.item() if hasattr(value, "item") else value
    return out


def _predict(values: dict) -> tuple:
    try:
        return _predict_items(tuple(values.items()))
    except TypeError:  # an unhashable value: not cached
        return _predict_now(values)


@functools.lru_cache(maxsize=65536)
def _predict_items(items: tuple) -> tuple:
    return _predict_now(dict(items))


def _predict_now(values: dict) -> tuple:
    try:
        p = predict(values)
    except Exception:  # noqa: BLE001 - a scenario the model cannot predict: no prediction
        return (float("nan"),) * len(COLUMNS)
    return (p.model_state_bytes, p.activation_bytes, p.offloaded_bytes, p.device_bytes)
