"""How the tidy frame is cut into panels and pages: setups, their names, orderings.

A setup is a combination of hardware keys (partition, world size, device,
micro-batch, ...; analysis/tidy.py); its name shows only what varies, e.g.
"gpu-h100 · 16 ranks".
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

import pandas as pd

from analysis.tidy import varying
from suite.models import MODELS

_NAMES = {"world_size": "{} ranks", "micro_batch": "micro-batch {}", "seq_len": "seq {}",
          "grad_accum": "grad-accum {}", "partition": "{}", "sweep": "sweep {}"}


class Group(NamedTuple):
    label: str  # what varies between groups, e.g. "gpu-h100 · 16 ranks" ("" if nothing)
    values: dict  # every key's value
    rows: pd.DataFrame


def groups(frame: pd.DataFrame, keys: list[str]) -> list[Group]:
    """One Group per combination of `keys` in `frame`, in sorted order (models by size)."""
    keys = [k for k in keys if k in frame]
    if frame.empty:
        return []
    if not keys:
        return [Group("", {}, frame)]
    shown = varying(frame, keys)
    out = []
    for values, rows in frame.groupby(keys, dropna=False, sort=True):
        named = dict(zip(keys, values, strict=True))
        out.append(Group(describe({k: v for k, v in named.items() if k in shown}), named, rows))
    if "model" in keys:
        rank = {m: i for i, m in enumerate(model_order(frame))}
        out.sort(key=lambda g: [rank.get(g.values[k], -1) if k == "model" else _sortable(
            g.values[k]) for k in keys])
    return out


def describe(values: dict) -> str:
    """`gpu-h100 · 16 ranks · cuda`: the values, named where a bare number says nothing; a
    long value (a DeepSpeed JSON) by its length and hash."""
    return " · ".join(_NAMES.get(k, "{}").format(_short(k, v)) for k, v in values.items()
                      if not pd.isna(v) and v != "")


def _short(key: str, value: object) -> str:
    text = str(value)
    if len(text) <= 24:
        return text
    return f"{key} #{hashlib.sha1(text.encode()).hexdigest()[:6]}"


def model_order(frame: pd.DataFrame) -> list[str]:
    """Model sizes by parameter count (sizes unknown to the catalogue last, by name)."""
    if "model" not in frame:
        return []
    names = frame["model"].dropna().unique()
    return sorted(names, key=lambda m: (m not in MODELS, MODELS[m].n_params if m in MODELS
                                        else 0, str(m)))


def _sortable(value: object) -> tuple:
    return (1, "") if pd.isna(value) else (0, value) if isinstance(value, int | float) \
        else (0.5, str(value))
