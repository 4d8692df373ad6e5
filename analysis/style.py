"""The look shared by every page: A4 landscape, fonts, and one colour per ZeRO stage.

The same strategy has the same colour on every figure: a ZeRO stage is a
colour (Okabe-Ito, safe for colour-blind readers); optimizer offload is a hatch
on that colour. Ledger components (parameters, gradients, ...) use their own
palette, so they are never mistaken for a stage.
"""

from __future__ import annotations

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.patches import Patch

A4_LANDSCAPE = (11.69, 8.27)  # inches
FOOTER_BAND = 0.05  # fraction of the page height kept free for the footer
CONTENT_TOP = 0.91  # below the title and subtitle
LEGEND_BAND = 0.045  # under CONTENT_TOP, for a figure legend

STAGE_COLORS = {0: "#7F7F7F", 1: "#E69F00", 2: "#56B4E9", 3: "#009E73"}
OTHER_STAGE_COLOR = "#CC79A7"
OFFLOAD_HATCHES = {"none": "", "cpu": "///", "nvme": "xxx"}
OFFLOAD_LABELS = {"none": "no offload", "cpu": "optimizer offload to CPU",
                  "nvme": "optimizer offload to NVMe"}
COMPONENTS = {  # frame column -> (label, colour)
    "params_bytes": ("parameters", "#332288"),
    "grads_bytes": ("gradients", "#CC6677"),
    "master_params_bytes": ("fp32 master parameters", "#DDCC77"),
    "optimizer_state_bytes": ("optimizer states", "#117733"),
}
FAIL_COLOR = "#B2182B"

RC = {"font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "xtick.labelsize": 8,
      "ytick.labelsize": 8, "legend.fontsize": 8, "figure.titlesize": 14,
      "axes.spines.top": False, "axes.spines.right": False, "hatch.linewidth": 0.8,
      "pdf.fonttype": 3}  # Type 3: text still extractable; subsetting TrueType is slow


def stage_color(stage: object) -> str:
    return STAGE_COLORS.get(stage, OTHER_STAGE_COLOR)


def offload_hatch(offload: object) -> str:
    return OFFLOAD_HATCHES.get(offload, "...")


def new_page(title: str, subtitle: str | None = None) -> Figure:
    """An empty A4-landscape Figure on the Agg canvas: title, subtitle, footer band kept free.

    Call it inside `styled()` (as the figure functions do) so fonts follow `RC`.
    """
    fig = Figure(figsize=A4_LANDSCAPE)
    FigureCanvasAgg(fig)  # headless on any node: no display backend, no pyplot state
    top = CONTENT_TOP if subtitle else CONTENT_TOP + 0.03
    fig.set_layout_engine(ConstrainedLayoutEngine(
        rect=(0.02, FOOTER_BAND, 0.96, top - FOOTER_BAND)))
    fig.text(0.02, 0.975, title, fontsize="x-large", fontweight="bold", va="top")
    if subtitle:
        fig.text(0.02, 0.94, subtitle, color="#444444", va="top")
    return fig


def styled():
    """The rc context every page is built and saved in."""
    return matplotlib.rc_context(RC)


def stage_legend_handles(stages, offloads) -> list[Patch]:
    """Legend entries: one colour per ZeRO stage, then one hatch per offload target."""
    handles = [Patch(facecolor=stage_color(s), label=f"ZeRO stage {s}") for s in stages]
    handles += [Patch(facecolor="white", edgecolor="#333333", hatch=offload_hatch(o),
                      label=OFFLOAD_LABELS.get(o, f"offload {o}")) for o in offloads]
    return handles
