"""What a run's strategy is, and its colour on every figure.

A record's strategy label is the values of its strategy axes that differ from
the axis defaults, e.g. "zero_stage=3 + offload_optimizer=cpu", "baseline" when
none does (suite/scenario_name.py names scenarios so everywhere: the report, the
progress lines of `memsweep run` and `memsweep status`).

Colours: a label's colour is its hash's slot in PALETTE, probing to the next
free slot when two labels of the same frame collide (labels taken in a fixed
order), so a strategy keeps its colour across figures and reports. The
baseline is always dark grey. With more strategies than colours, the colours
repeat with another marker (MARKERS) for points and lines.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from suite.scenario_name import BASELINE, naming_axes, strategy_label

BASELINE_COLOR = "#4D4D4D"
# Okabe-Ito and Tol's muted scheme: distinct for colour-blind readers, none near the grey.
PALETTE = ("#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#332288",
           "#999933", "#882255", "#44AA99", "#DDCC77", "#AA4499")
MARKERS = ("o", "s", "^", "D")  # a round of colours each


def strategy_labels(frame: pd.DataFrame) -> pd.Series:
    """The strategy label of every row of a tidy frame (computed once per distinct combination)."""
    axes = [a for a in naming_axes() if a in frame]
    if frame.empty or not axes:
        return pd.Series(BASELINE, index=frame.index, dtype="object")
    which = frame.groupby(axes, dropna=False, sort=False).ngroup().to_numpy()
    _, first = np.unique(which, return_index=True)  # a row of each combination, in code order
    firsts = frame[axes].iloc[first]
    labels = [strategy_label(dict(zip(axes, key, strict=True)))
              for key in zip(*(firsts[a].tolist() for a in axes), strict=True)]
    return pd.Series(np.asarray(labels, dtype=object)[which], index=frame.index, dtype="object")


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
