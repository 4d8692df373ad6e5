"""Memory figures: memory vs model size per strategy, the stacked breakdown, predicted vs measured.

Each takes the tidy frame and returns a Figure; points are medians over ok runs.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.transforms import blended_transform_factory

from analysis import fig_parts
from analysis.analysis import Analysis
from analysis.axes_layout import place
from analysis.bars import hbars
from analysis.fits import device_capacities
from analysis.grouping import Group, groups
from analysis.labels import order
from analysis.predicted import COLUMNS, inputs, predictions, with_predictions
from analysis.style import FAIL_COLOR, new_page, styled
from analysis.tidy import LEDGER, hardware_keys, ok_rows, peak_what
from analysis.units import byte_unit, human_bytes

COMPONENTS = {  # category -> (label, colour): a palette apart from the strategies'
    "params": ("parameters", "#3B4B7A"),
    "grads": ("gradients", "#7D94C4"),
    "master_params": ("fp32 master copy", "#BFCDE8"),
    "optimizer_state": ("optimizer states", "#8C6D3F"),
    "buffers": ("buffers (buckets, staging)", "#5E8C6A"),
    "activations": ("activations", "#D9B77E"),
    "temporaries": ("temporaries", "#F0DDB8"),
    "other": ("other", "#DDDDDD"),
}
_LEDGER_OF = dict(zip(("params", "grads", "master_params", "optimizer_state"), LEDGER,
                      strict=True))


def memory_vs_size_figure(a: Analysis, *, subtitle: str | None = None) -> Figure:
    """Peak memory per rank against parameter count (log-log), a line per strategy,
    a panel per hardware setup; × marks a size that ran out of memory."""
    frame = a.frame
    what = peak_what(frame)
    with styled():
        title = f"{what[0].upper()}{what[1:]} per rank vs model size, per strategy"
        fig = new_page(title, subtitle)
        # each setup's rows indexed by their positions in the frame
        setups = groups(frame.reset_index(drop=True), hardware_keys(frame))
        if not (frame["status"] == "ok").any():
            return fig_parts.message(fig, "no ok runs: see the failures page")
        colors, markers = fig_parts.colors_of(frame), fig_parts.markers_of(frame)
        caps = device_capacities(frame, a.capacity)
        setup_of = np.zeros(len(frame), dtype=np.int64)
        for n, setup in enumerate(setups):
            setup_of[setup.rows.index.to_numpy()] = n
        # every setup's lines and lost sizes in one groupby each, not two per panel
        lines, lost = _size_table(_medians(frame, setup_of)), _size_table(_lost(frame, setup_of))
        for n, (ax, setup) in enumerate(zip(
                fig_parts.panels(fig, [s.label or what for s in setups]), setups, strict=False)):
            _size_lines(ax, order(setup.rows["strategy"]), lines.of(n), lost.of(n), colors,
                        markers)
            cap = caps.get(setup.values.get("partition"))
            if cap:
                ax.axhline(cap, color="#B2182B", linestyle="--", linewidth=0.8)
                ax.annotate(f"device memory {human_bytes(cap)}", (0.01, cap),
                            xycoords=("axes fraction", "data"), fontsize=7, color="#B2182B",
                            va="bottom")
            fig_parts.params_axis(ax)
            fig_parts.bytes_axis(ax, log=True)
            ax.set_xlabel("parameters")
            ax.set_ylabel(f"{peak_what(setup.rows)} per rank")  # this panel's own
            ax.grid(True, which="major", alpha=0.3)
        oom = Line2D([], [], color="#333333", marker="x", linestyle="none",
                     label="ran out of memory")
        fig_parts.strategy_legend(fig, colors, extra=[oom], markers=markers)
        return place(fig)


class _SizeTable(NamedTuple):
    """A table of sizes per setup, strategy and model (sorted so) as arrays."""
    setup: np.ndarray
    strategy: np.ndarray
    n_params: np.ndarray
    peak_bytes: np.ndarray  # NaN in a table without peaks

    def of(self, setup: int) -> _SizeTable:
        mine = self.setup == setup
        return _SizeTable(*(column[mine] for column in self))


def _size_table(table: pd.DataFrame) -> _SizeTable:
    index = table.index
    peaks = table["peak_bytes"] if "peak_bytes" in table else pd.Series(np.nan, index=index)
    return _SizeTable(index.get_level_values(0).to_numpy(),
                      index.get_level_values("strategy").to_numpy(),
                      table["n_params"].to_numpy("float64", na_value=np.nan),
                      peaks.to_numpy("float64", na_value=np.nan))


def _medians(frame: pd.DataFrame, setup_of: np.ndarray) -> pd.DataFrame:
    """Per setup (`setup_of` each row's), strategy and model: the median size and peak of the
    ok runs."""
    ok = (frame["status"] == "ok").to_numpy()
    rows = frame.loc[ok, ["strategy", "model", "n_params", "peak_bytes"]]
    return rows.groupby([setup_of[ok], "strategy", "model"])[["n_params", "peak_bytes"]].median()


def _lost(frame: pd.DataFrame, setup_of: np.ndarray) -> pd.DataFrame:
    """Per setup, strategy and model that only ran out of memory, never ok: its largest
    parameter count."""
    flags = pd.DataFrame({"ok": frame["status"] == "ok", "oom": frame["status"] == "oom",
                          "n_params": frame["n_params"]})
    # one max per column (of booleans: any), not a named aggregation per column: 3x faster
    flags = flags.groupby([setup_of, frame["strategy"], frame["model"]]).max()
    return flags.loc[~flags["ok"] & flags["oom"], ["n_params"]].astype("float64")


def _size_lines(ax, strategies: list[str], lines: _SizeTable, lost: _SizeTable, colors: dict,
                markers: dict) -> None:
    """A line per strategy through its medians (`lines`: a setup's), × at the top for its
    sizes that only ran out of memory (`lost`)."""
    top = blended_transform_factory(ax.transData, ax.transAxes)
    for strategy in strategies:
        line = np.flatnonzero(lines.strategy == strategy)
        if line.size:
            line = line[_ascending(lines.n_params[line])]
            ax.plot(lines.n_params[line], lines.peak_bytes[line], marker=markers[strategy],
                    markersize=4, color=colors[strategy], linewidth=1.4, gid=f"{strategy}/line")
        sizes = lost.n_params[lost.strategy == strategy]
        if sizes.size:
            ax.scatter(sizes, [0.97] * len(sizes), marker="x", color=colors[strategy],
                       transform=top, clip_on=False, s=30, gid=f"{strategy}/oom")
            # the x range takes them in (a blended transform's points do not set limits):
            # a capacity search's first sizes out of memory lie above every ok one
            ax.update_datalim([(x, 1.0) for x in sizes], updatey=False)


def _ascending(values: np.ndarray) -> np.ndarray:
    """The positions of `values` in ascending order, NaN last: as `Series.sort_values` orders
    them (a quicksort of the numbers, then the NaN in place order)."""
    missing = np.isnan(values)
    known = np.flatnonzero(~missing)
    return np.concatenate([known[np.argsort(values[known], kind="quicksort")],
                           np.flatnonzero(missing)])


MAX_BREAKDOWN_PAGES = 2


def breakdown_figures(a: Analysis, *, subtitle: str | None = None) -> list[Figure]:
    """Per rank, the breakdown at the measured peak (jobs/peak_probe.py's categories, of the
    rank with the largest peak) stacked per strategy, a panel per model size and setup listing
    the strategies run there; a black tick marks the measured peak, a diamond the predicted
    one. A record without a breakdown (older than the probe) stacks its ledger, the modelled
    activations and the rest of its peak as other. Long lists go on over panels and pages."""
    frame = a.frame
    title = "Memory breakdown per rank, per strategy"
    usable = ((frame["status"] == "ok") & frame[list(LEDGER)].notna().all(axis=1)).to_numpy()
    if not usable.any():
        with styled():
            return [fig_parts.message(new_page(title, subtitle),
                                      "no ok runs with a memory ledger: see the failures page")]
    colors = fig_parts.colors_of(frame)
    cells = {c.label: c for c in _cells(frame)[-fig_parts.MAX_PANELS:]}  # the largest sizes
    # each row's cell (-1: none shown), from their rows' positions: one pass, not a compare
    # of every key over every row per panel
    cell_of = np.full(len(frame), -1)
    for n, cell in enumerate(cells.values()):
        cell_of[cell.rows.index.to_numpy()] = n
    shown = np.flatnonzero(usable & (cell_of >= 0))
    parts = _parts(with_predictions(frame[_breakdown_columns(frame)].take(shown)))
    medians = _cell_medians(parts, cell_of[shown])
    panels = [(label, order(c.rows["strategy"])) for label, c in cells.items()]
    ncols = fig_parts.columns_per_page(panels, most=3)
    columns = fig_parts.strategy_columns(panels)
    pages = [columns[i:i + ncols] for i in range(0, len(columns), ncols)]
    handles = [Patch(facecolor=c, label=lbl) for lbl, c in COMPONENTS.values()]
    handles.append(Line2D([], [], color="black", marker="|", markersize=12,
                          linestyle="none", label="measured peak"))
    handles.append(Line2D([], [], color="black", marker="D", markersize=5, fillstyle="none",
                          linestyle="none", label="predicted peak"))
    number = {label: n for n, label in enumerate(cells)}
    figs = []
    for n, page in enumerate(pages[:MAX_BREAKDOWN_PAGES], start=1):
        more = f" ({n}/{min(len(pages), MAX_BREAKDOWN_PAGES)})" if len(pages) > 1 else ""
        with styled():
            fig = new_page(title + more, subtitle)
            for ax, label, labels in fig_parts.column_panels(fig, page):
                cell = cells[label]
                med = medians.get(number[label])
                _stack(ax, med, labels, colors)
                drawn = set(med.index) if med is not None else set()
                for y, strategy in enumerate(labels):  # ran, but never ok: say how it ended
                    if strategy in drawn:
                        continue
                    seen = set(cell.rows.loc[cell.rows["strategy"] == strategy, "status"])
                    if seen:
                        ax.text(0, y, " " + "/".join(sorted(seen)).upper(), va="center",
                                fontsize=7, color=FAIL_COLOR, fontweight="bold")
            fig_parts.band_legend(fig, handles)
            figs.append(place(fig))
    return figs


def _cells(frame: pd.DataFrame) -> list[Group]:
    """groups() of `frame` by setup and model size, of only the columns the pages read of
    them, each group's rows indexed by their positions in `frame` (groups of all 74 columns
    copied every row)."""
    keys = [*hardware_keys(frame), "model"]
    columns = [c for c in dict.fromkeys([*keys, "strategy", "status"]) if c in frame]
    return groups(frame[columns].reset_index(drop=True), keys)


def _breakdown_columns(frame: pd.DataFrame) -> list[str]:
    """The columns at_peak and the predictions read, and the strategy."""
    return list(dict.fromkeys([*inputs(frame), *(f"tensor_peak_{c}_bytes" for c in COMPONENTS),
                               *LEDGER, "peak_bytes", "predicted_peak_bytes", "strategy"]))


def _parts(rows: pd.DataFrame) -> pd.DataFrame:
    """at_peak's bytes per category of `rows` with their strategy, measured and predicted
    peak: what a panel stacks the medians of."""
    return at_peak(rows).assign(strategy=rows["strategy"],
                                peak=rows["peak_bytes"].astype("float64"),
                                predicted=rows["predicted_peak_bytes"].astype("float64"))


def at_peak(rows: pd.DataFrame) -> pd.DataFrame:
    """Bytes per COMPONENTS category at each row's peak (with_predictions' rows): the
    measured breakdown, or for a row without one its ledger, the modelled activations and
    the rest of its peak as other."""
    measured = rows[[f"tensor_peak_{c}_bytes" for c in COMPONENTS]].astype("float64")
    measured.columns = list(COMPONENTS)
    old = pd.DataFrame(0.0, index=rows.index, columns=list(COMPONENTS))
    for category, column in _LEDGER_OF.items():
        old[category] = rows[column].astype("float64")
    old["activations"] = rows["pred_activation_bytes"].fillna(0)
    on_device = old[list(_LEDGER_OF)].sum(axis=1) - rows["pred_offloaded_bytes"].fillna(0)
    old["other"] = (rows["peak_bytes"].astype("float64") - on_device
                    - old["activations"]).clip(lower=0)
    has = measured.notna().all(axis=1)
    return measured.where(has, old)


def _cell_medians(parts: pd.DataFrame, cell: np.ndarray) -> dict[int, pd.DataFrame]:
    """Per cell number (`cell`: each row's of `parts`) that has rows: the medians per strategy
    of its rows (_parts' columns, indexed by strategy). One groupby for every panel, not a
    filter and a groupby per panel (6 cells of 11k rows: 8.5 -> 3.8 ms)."""
    medians = parts.groupby([cell, "strategy"]).median()
    return {n: medians.xs(n) for n in medians.index.unique(level=0)}


def _stack(ax, med: pd.DataFrame | None, labels: list[str], colors: dict) -> None:
    """A cell's medians per strategy (_cell_medians; None: no usable row) stacked, a bar per
    label."""
    ax.set_ylim(len(labels) - 0.5, -0.5)  # first label at the top
    if med is None:
        fig_parts.strategy_ticks(ax, labels, colors)
        return
    scale = float(max(med[list(COMPONENTS)].sum(axis=1).max(), med["peak"].max(),
                      med["predicted"].max(skipna=True) if med["predicted"].notna().any() else 0))
    unit, name = byte_unit(scale)
    drawn = [(y, s) for y, s in enumerate(labels) if s in med.index]
    # the drawn strategies' medians as arrays, taken once: a frame's cumsum and two `.at`
    # per strategy were a third of a panel's pandas time
    picked = med.loc[[s for _, s in drawn]]
    widths = picked[list(COMPONENTS)].to_numpy("float64") / unit
    lefts = np.nancumsum(widths, axis=1) - widths  # as DataFrame.cumsum: NaN skipped
    peaks = picked["peak"].to_numpy("float64") / unit
    predicted = picked["predicted"].to_numpy("float64") / unit
    for n, (column, (_label, color)) in enumerate(COMPONENTS.items()):  # a collection each
        hbars(ax, [y for y, _ in drawn], widths[:, n], left=lefts[:, n], height=0.7,
              color=color, edgecolor="white", linewidth=0.4,
              gids=[f"{strategy}/{column}" for _, strategy in drawn])
    for (y, strategy), peak, guess in zip(drawn, peaks, predicted, strict=True):
        ax.plot([peak] * 2, [y - 0.42, y + 0.42], color="black", linewidth=1.6,
                gid=f"{strategy}/peak")
        if not np.isnan(guess):
            ax.plot([guess], [y], marker="D", markersize=5, fillstyle="none", color="black",
                    linestyle="none", gid=f"{strategy}/predicted")
    fig_parts.strategy_ticks(ax, labels, colors)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.set_xlabel(f"bytes per rank [{name}]")


def predicted_figure(a: Analysis, *, subtitle: str | None = None) -> Figure:
    """Measured against predicted bytes per rank (log-log, y = x dashed): the model states
    held (ledger) and the peak (suite/peak_model.py against the tensor peak on the CPU, the
    peak allocated on a GPU), one point per scenario and partition."""
    frame = a.frame
    with styled():
        fig = new_page("Predicted vs measured memory per rank", subtitle)
        keys = ["scenario_id", "partition", "strategy"]
        rows = ok_rows(frame, [*keys, "device", "peak_bytes", "tensor_peak_bytes", "held_bytes",
                               "predicted_peak_bytes"])  # the columns read, not all
        # of every row (their axes are not copied): the ok ones' kept
        rows["pred_held_bytes"] = predictions(frame)[(frame["status"] == "ok").to_numpy(),
                                                     COLUMNS.index("pred_held_bytes")]
        # the peak the model predicts: tensors on the CPU (not RSS, for older records)
        rows["measured_peak"] = rows["peak_bytes"].where(
            (rows["device"] == "cuda") | rows["tensor_peak_bytes"].notna())
        values = ["held_bytes", "pred_held_bytes", "measured_peak", "predicted_peak_bytes"]
        rows[values] = rows[values].astype("float64")
        med = rows.groupby(keys, dropna=False)[values].median().reset_index()
        pairs = (("held_bytes", "pred_held_bytes", "model states held (ledger)"),
                 ("measured_peak", "predicted_peak_bytes", _peak_name(rows)))
        med = med.dropna(subset=["pred_held_bytes"])
        if med.empty:
            return fig_parts.message(fig, "no ok run the analytical model can predict")
        colors, markers = fig_parts.colors_of(frame), fig_parts.markers_of(frame)
        for ax, (measured, predicted, what) in zip(
                fig_parts.panels(fig, [p[2] for p in pairs], ncols=2), pairs, strict=True):
            data = med.dropna(subset=[measured, predicted])
            # each strategy's points as the collection scatter makes, from one split of the
            # panel's rows; the data limits take them in at once, as each scatter did
            xy = data[[predicted, measured]].to_numpy(dtype="float64")
            where = data.groupby("strategy", sort=False).indices
            for strategy in order(data["strategy"]):
                fig_parts.points(ax, xy[where[strategy]], fig_parts.marker_path(markers[strategy]),
                                 s=14, facecolors=colors[strategy], edgecolors="none", alpha=0.8,
                                 gid=f"{strategy}/{measured}")
            if not data.empty:
                ax.update_datalim(xy)
                ax.autoscale(enable=None)
                lo = float(min(data[measured].min(), data[predicted].min())) / 1.5
                hi = float(max(data[measured].max(), data[predicted].max())) * 1.5
                ax.plot([lo, hi], [lo, hi], color="#777777", linestyle="--", linewidth=0.8)
                ratio = data[measured] / data[predicted]
                ax.text(0.02, 0.97, f"measured / predicted: median {ratio.median():.3f}, "
                        f"{ratio.min():.3f} to {ratio.max():.3f}",
                        transform=ax.transAxes, va="top", fontsize=8, gid=f"{measured}/ratio")
            else:  # records older than the tensor peak and its prediction
                ax.text(0.5, 0.5, "no run holds both figures", transform=ax.transAxes,
                        ha="center", va="center", fontsize=8, color="#777777")
            fig_parts.bytes_axis(ax, "x", log=True)
            fig_parts.bytes_axis(ax, "y", log=True)
            ax.set_xlabel(f"predicted {what}")
            ax.set_ylabel(f"measured {what}")
            ax.grid(True, alpha=0.3)
        fig_parts.strategy_legend(fig, colors, markers=markers)
        return place(fig)


def _peak_name(rows: pd.DataFrame) -> str:
    # the distinct values, then a set: a set of the whole column built it from 90k strings
    devices = set(rows["device"].dropna().unique())
    if devices == {"cuda"}:
        return "peak device memory allocated"
    return "peak tensor memory" if "cuda" not in devices else \
        "peak memory (allocated on GPU, tensors on CPU)"
