"""How the tidy frame is cut for figures: the key configuration, facets, orderings.

The key configuration of a bar is (model, ZeRO stage, optimizer offload). Every
other scenario axis (world size, precision, ...) and the partition make a
facet: figures are drawn per facet so no bar mixes two set-ups.
"""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd

from suite.axes import AXES

KEY = ("model", "zero_stage", "offload_optimizer")
FACET_COLUMNS = (*(a for a in AXES if a not in KEY), "partition")
_FACET_NAMES = {"world_size": "{} ranks", "micro_batch": "micro-batch {}", "seq_len": "seq {}",
                "grad_accum": "grad-accum {}", "partition": "partition {}"}


def ok_runs(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["status"] == "ok"]


def model_order(frame: pd.DataFrame) -> list[str]:
    """Model sizes by parameter count (sizes unknown to the catalogue last, by name)."""
    sizes = frame.groupby("model", dropna=True)["n_params"].max()
    return sorted(sizes.index, key=lambda m: (pd.isna(sizes[m]), 0 if pd.isna(sizes[m])
                                              else int(sizes[m]), str(m)))


def offload_order(values) -> list[str]:
    """`none` first, then the offload targets by name."""
    return sorted(set(values), key=lambda o: (o != "none", str(o)))


class Facet(NamedTuple):
    label: str  # the facet axes that vary over the frame, e.g. "4 ranks · bf16" ("" if none)
    description: str  # every facet axis, e.g. "2 ranks · fp32 · adamw · ... · cpu"
    rows: pd.DataFrame


def facets(frame: pd.DataFrame) -> list[Facet]:
    """One Facet per combination of the non-key axes present in `frame`."""
    cols = [c for c in FACET_COLUMNS if c in frame and frame[c].notna().any()]
    if frame.empty:
        return []
    if not cols:
        return [Facet("", "", frame)]
    varying = {c for c in cols if frame[c].nunique(dropna=False) > 1}
    out = []
    for values, rows in frame.groupby(cols, dropna=False, sort=True):
        named = dict(zip(cols, values, strict=True))
        out.append(Facet(facet_label({k: v for k, v in named.items() if k in varying}),
                         facet_label(named), rows))
    return out


def facet_label(values: dict) -> str:
    parts = [_FACET_NAMES.get(k, "{}").format(v) for k, v in values.items() if not pd.isna(v)]
    return " · ".join(parts)


def peak_memory(frame: pd.DataFrame) -> tuple[str, str]:
    """(column, what it is) of the peak memory per rank that matters on the facet's device.

    On a GPU it is the peak device memory allocated; on the CPU the peak host RSS.
    """
    if (frame["device"] == "cuda").all() and frame["peak_device_bytes"].notna().any():
        return "peak_device_bytes", "device memory allocated"
    return "peak_host_rss_bytes", "host RSS"


def config_values(frame: pd.DataFrame, column: str) -> pd.Series:
    """Median of `column` over the ok runs of each key configuration (repetitions)."""
    rows = ok_runs(frame).dropna(subset=[column])
    return rows.groupby(list(KEY))[column].median()


def config_status(frame: pd.DataFrame) -> pd.Series:
    """The status of the key configurations without an ok run (e.g. `oom`), by key."""
    done = set(ok_runs(frame).set_index(list(KEY)).index)
    rest = frame[[tuple(k) not in done for k in frame[list(KEY)].itertuples(index=False)]]
    return rest.groupby(list(KEY))["status"].agg(lambda s: "/".join(sorted(set(s))))
