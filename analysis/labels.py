"""What a run's strategy is, and its colour on every figure.

A record's strategy is the values of its strategy axes that differ from the
axis defaults (suite/axes.py), e.g. "zero_stage=3 + offload_optimizer=cpu";
"baseline" when every strategy axis is at its default. The strategy axes are
every axis except the workload and hardware ones (WORKLOAD_AXES), or the
catalogue's own `STRATEGY_AXES` once it declares them: a new strategy axis
needs no change here.

Colours: a label's colour is its hash's slot in PALETTE, probing to the next
free slot when two labels of the same frame collide (labels taken in a fixed
order), so a strategy keeps its colour across figures and reports. The
baseline is always dark grey. With more strategies than colours, the colours
repeat with another marker (MARKERS) for points and lines.
"""

from __future__ import annotations

import hashlib

import pandas as pd

import suite.axes

BASELINE = "baseline"
BASELINE_COLOR = "#4D4D4D"
# Okabe-Ito and Tol's muted scheme: distinct for colour-blind readers, none near the grey.
PALETTE = ("#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#332288",
           "#999933", "#882255", "#44AA99", "#DDCC77", "#AA4499")
MARKERS = ("o", "s", "^", "D")  # a round of colours each
WORKLOAD_AXES = ("model", "world_size", "device", "micro_batch", "seq_len", "grad_accum")


def strategy_axes() -> tuple[str, ...]:
    """The axes whose non-default values make a strategy, in catalogue order."""
    declared = getattr(suite.axes, "STRATEGY_AXES", None)
    if declared is not None:
        return tuple(a for a in declared if a in suite.axes.AXES)
    return tuple(a for a in suite.axes.AXES if a not in WORKLOAD_AXES)


def workload_axes() -> tuple[str, ...]:
    """Every other axis: what is trained, on how many ranks, where (not a strategy)."""
    declared = getattr(suite.axes, "WORKLOAD_AXES", None)
    if declared is not None:
        return tuple(a for a in declared if a in suite.axes.AXES)
    chosen = set(strategy_axes())
    return tuple(a for a in suite.axes.AXES if a not in chosen)


def strategy_label(values: dict) -> str:
    """`zero_stage=3 + offload_optimizer=cpu` for one scenario's axis values."""
    parts = []
    for name in strategy_axes():
        value = values.get(name)
        if _missing(value) or value == suite.axes.AXES[name].default:
            continue  # an axis a record does not name is at its default
        parts.append(f"{name}={_show(value)}")
    return " + ".join(parts) or BASELINE


def strategy_labels(frame: pd.DataFrame) -> pd.Series:
    """The strategy label of every row of a tidy frame (computed once per distinct combination)."""
    axes = [a for a in strategy_axes() if a in frame]
    if frame.empty or not axes:
        return pd.Series(BASELINE, index=frame.index, dtype="object")
    cache: dict[tuple, str] = {}
    labels = []
    for key in zip(*(frame[a].tolist() for a in axes), strict=True):
        label = cache.get(key)
        if label is None:
            label = cache[key] = strategy_label(dict(zip(axes, key, strict=True)))
        labels.append(label)
    return pd.Series(labels, index=frame.index, dtype="object")


def order(labels) -> list[str]:
    """Baseline first, then by the number of changed axes, then by name."""
    return sorted(set(labels), key=lambda s: (s != BASELINE, s.count(" + "), s))


def strategy_colors(labels) -> dict[str, str]:
    """A colour per label: the baseline grey, the others by hash slot (see module doc)."""
    return {label: color for label, (color, _) in strategy_styles(labels).items()}


def strategy_styles(labels) -> dict[str, tuple[str, str]]:
    """(colour, marker) per label. Past len(PALETTE) labels the colours repeat, each round
    with the next marker of MARKERS, so points and lines still tell strategies apart."""
    taken: set[int] = set()
    styles = {}
    for label in order(labels):
        if label == BASELINE:
            styles[label] = (BASELINE_COLOR, MARKERS[0])
            continue
        home = int(hashlib.sha1(label.encode()).hexdigest(), 16) % len(PALETTE)
        probes = (r * len(PALETTE) + (home + step) % len(PALETTE)
                  for r in range(len(MARKERS)) for step in range(len(PALETTE)))
        slot = next((s for s in probes if s not in taken), home)  # all taken: share home
        taken.add(slot)
        styles[label] = (PALETTE[slot % len(PALETTE)], MARKERS[slot // len(PALETTE)])
    return styles


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _show(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # an int axis read back through a column with gaps
    return str(value)
