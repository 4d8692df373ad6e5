"""The bar grid the figures share: one panel per model size, bars per ZeRO stage × offload.

Every bar carries a gid `model/stage/offload` (plus `/component` when stacked)
so tests and later tools can tell which configuration a bar shows.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from analysis.grouping import model_order, offload_order
from analysis.style import (
    CONTENT_TOP,
    FAIL_COLOR,
    FOOTER_BAND,
    LEGEND_BAND,
    offload_hatch,
    stage_color,
)
from analysis.units import human_count

EDGE = "#333333"


def model_panels(fig: Figure, frame: pd.DataFrame, *, ncols: int = 3) -> dict[str, Axes]:
    """One axes per model size in `frame`, ordered by parameter count, row by row."""
    models = model_order(frame)
    if not models:
        return {}
    ncols = min(ncols, len(models))
    axes = fig.subplots(math.ceil(len(models) / ncols), ncols, squeeze=False).ravel()
    for ax in axes[len(models):]:
        ax.remove()
    n_params = frame.groupby("model")["n_params"].max()
    for ax, model in zip(axes, models, strict=False):
        size = n_params.get(model)
        ax.set_title(f"{model} ({human_count(int(size))} parameters)" if pd.notna(size)
                     else str(model))
    return dict(zip(models, axes, strict=False))


def slots(frame: pd.DataFrame) -> tuple[list, list]:
    """The ZeRO stages and offload targets present in `frame`, in display order."""
    return sorted(frame["zero_stage"].dropna().unique()), offload_order(
        frame["offload_optimizer"].dropna())


def stage_bars(ax: Axes, model: str, values: pd.Series, statuses: pd.Series, *,
               stages: list, offloads: list, scale: float,
               label: Callable[[float], str]) -> None:
    """Bars of `values` (indexed by model, stage, offload) for one model, `scale` units.

    A configuration without an ok run shows its status (e.g. OOM) where its bar would be.
    """
    width = 0.8 / len(offloads)
    for i, stage in enumerate(stages):
        for j, off in enumerate(offloads):
            x = i + (j - (len(offloads) - 1) / 2) * width
            key = (model, stage, off)
            if key in values.index:
                v = float(values[key])
                bars = ax.bar(x, v / scale, width, color=stage_color(stage),
                              hatch=offload_hatch(off), edgecolor=EDGE, linewidth=0.5)
                bars[0].set_gid(f"{model}/{stage}/{off}")
                ax.bar_label(bars, labels=[label(v)], rotation=90, padding=2, fontsize=7)
            elif key in statuses.index:
                ax.text(x, 0, f" {statuses[key].upper()}", rotation=90, ha="center",
                        va="bottom", fontsize=7, color=FAIL_COLOR, fontweight="bold")
    ax.set_xticks(range(len(stages)), [f"ZeRO {s}" for s in stages])
    color_stage_ticks(ax, stages)
    center(ax, len(stages))
    headroom(ax)


def center(ax: Axes, n: int, slots: int = 4) -> None:
    """x limits for `n` groups centred in room for at least `slots`: a lone bar stays narrow."""
    half = max(n, slots) / 2
    ax.set_xlim((n - 1) / 2 - half, (n - 1) / 2 + half)


def color_stage_ticks(ax: Axes, stages: list) -> None:
    """Underlay each x tick label with its stage's colour, as on every figure."""
    for text, stage in zip(ax.get_xticklabels(), stages, strict=True):
        text.set_bbox({"facecolor": stage_color(stage), "alpha": 0.35, "edgecolor": "none",
                       "boxstyle": "round,pad=0.25"})


def headroom(ax: Axes, factor: float = 1.3) -> None:
    """Room above the tallest bar for its rotated value label."""
    top = max((p.get_y() + p.get_height() for p in ax.patches), default=0.0)
    ax.set_ylim(0, top * factor if top > 0 else 1.0)
    if top <= 0:
        ax.set_yticks([])


def legend(fig: Figure, handles: list) -> None:
    """The figure's legend in a band of its own under the subtitle, never over the data."""
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, CONTENT_TOP),
               ncols=min(len(handles), 7), frameon=False)
    fig.get_layout_engine().set(rect=(0.02, FOOTER_BAND, 0.96,
                                      CONTENT_TOP - LEGEND_BAND - FOOTER_BAND))


def no_data(fig: Figure, message: str) -> Figure:
    fig.text(0.5, 0.5, message, ha="center", va="center", fontsize=14, color="#555555")
    return fig
