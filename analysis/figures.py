"""Figures: each takes the tidy frame (one facet of it) and returns a Figure; none saves.

Bars are medians over the ok runs of a configuration (repetitions); a
configuration without an ok run shows its status instead of a bar.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from analysis.bars import (
    center,
    color_stage_ticks,
    legend,
    model_panels,
    no_data,
    slots,
    stage_bars,
)
from analysis.grouping import KEY, config_status, config_values, ok_runs, peak_memory
from analysis.style import COMPONENTS, new_page, offload_hatch, stage_legend_handles, styled
from analysis.units import byte_unit, count_formatter, human_bytes, human_rate

NO_OK = "no ok runs here: see the failures page"


def peak_memory_figure(frame: pd.DataFrame, *, subtitle: str | None = None) -> Figure:
    """Peak memory per rank (max over ranks) by ZeRO stage × offload, one panel per model."""
    column, what = peak_memory(frame)
    return _stage_figure(frame, column, f"Peak memory per rank: {what} (max over ranks)",
                         subtitle, ylabel=f"peak {what} per rank", as_bytes=True)


def throughput_figure(frame: pd.DataFrame, *, subtitle: str | None = None) -> Figure:
    """Training throughput (samples/s over all ranks) by ZeRO stage × offload, per model."""
    return _stage_figure(frame, "samples_per_s", "Throughput: samples/s, all ranks", subtitle,
                         ylabel="samples/s (all ranks)", as_bytes=False)


def _stage_figure(frame, column, title, subtitle, *, ylabel, as_bytes) -> Figure:
    with styled():
        fig = new_page(title, subtitle)
        values, statuses = config_values(frame, column), config_status(frame)
        if values.empty and statuses.empty:
            return no_data(fig, NO_OK)
        stages, offloads = slots(frame)
        for model, ax in model_panels(fig, frame).items():
            mine = values[values.index.get_level_values("model") == model]
            scale, unit = byte_unit(mine.max()) if as_bytes else (1.0, "")
            stage_bars(ax, model, values, statuses, stages=stages, offloads=offloads,
                       scale=scale, label=human_bytes if as_bytes else human_rate)
            if mine.empty:  # every run of this model failed: the statuses say why
                ax.text(0.5, 0.5, "no ok run", transform=ax.transAxes, ha="center",
                        color="#777777")
                continue
            ax.set_ylabel(f"{ylabel} [{unit}]" if as_bytes else ylabel)
            if not as_bytes:
                ax.yaxis.set_major_formatter(count_formatter())
        legend(fig, stage_legend_handles(stages, offloads))
        return fig


def ledger_figure(frame: pd.DataFrame, *, subtitle: str | None = None) -> Figure:
    """Bytes each rank holds (max over ranks): parameters, gradients, fp32 master copy and
    optimizer states, stacked, per ZeRO stage × offload, one panel per model."""
    with styled():
        fig = new_page("Memory held per rank: parameters, gradients, optimizer states",
                       subtitle)
        rows = ok_runs(frame).dropna(subset=list(COMPONENTS))
        if rows.empty:
            return no_data(fig, NO_OK)
        parts = rows.groupby(list(KEY))[list(COMPONENTS)].median()
        stages, offloads = slots(rows)
        for model, ax in model_panels(fig, rows).items():
            _stacked(ax, model, parts.xs(model, level="model"))
        handles = [Patch(facecolor=c, label=lbl) for lbl, c in COMPONENTS.values()]
        legend(fig, handles + stage_legend_handles([], offloads))
        return fig


def _stacked(ax, model: str, parts: pd.DataFrame) -> None:
    """One stacked bar per (stage, offload) of `parts` (indexed by stage, offload)."""
    parts = parts.sort_index(key=lambda i: i.map(lambda v: (v != "none", str(v)))
                             if i.name == "offload_optimizer" else i)
    scale, unit = byte_unit(float(parts.sum(axis=1).max()))
    for x, ((stage, off), row) in enumerate(parts.iterrows()):
        bottom = 0.0
        for column, (_label, color) in COMPONENTS.items():
            height = float(row[column]) / scale
            bar = ax.bar(x, height, 0.7, bottom=bottom, color=color, hatch=offload_hatch(off),
                         edgecolor="white", linewidth=0.5)[0]
            bar.set_gid(f"{model}/{stage}/{off}/{column}")
            bottom += height
        ax.annotate(human_bytes(row.sum()), (x, bottom), xytext=(0, 2),
                    textcoords="offset points", rotation=90, ha="center", va="bottom",
                    fontsize=7)
    ax.set_xticks(range(len(parts)), [f"{s}" + ("" if o == "none" else f"\n+{o}")
                                      for s, o in parts.index])
    ax.set_xlabel("ZeRO stage (+ optimizer offload)")
    center(ax, len(parts))
    color_stage_ticks(ax, [s for s, _ in parts.index])
    ax.set_ylabel(f"bytes held per rank [{unit}]")
    ax.set_ylim(0, max(ax.get_ylim()[1], 1e-9) * 1.3)
