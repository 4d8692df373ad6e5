"""The look shared by every page: A4 landscape, fonts, the title and footer bands.

Strategy colours are in analysis/labels.py (the same strategy has the same
colour on every figure); memory components have their own palette
(analysis/fig_memory.py), apart from the strategies'.
"""

from __future__ import annotations

import logging

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from analysis.axes_layout import keep_within

A4_LANDSCAPE = (11.69, 8.27)  # inches
FOOTER_BAND = 0.05  # fraction of the page height kept free for the footer
CONTENT_TOP = 0.91  # below the title and subtitle
LEGEND_BAND = 0.045  # under CONTENT_TOP, for a figure legend

SUBTITLE_CHARS = 205  # of the subtitle line at 9 pt across the page
FAIL_COLOR = "#B2182B"

# The PDF's text is in the PDF core fonts (Helvetica, Courier: nothing to embed, ten times
# faster to write than embedded glyphs); they cover Latin-1 (plus – … • ×), so a character
# beyond it in a log tail prints as "?". Rasterised pages (Agg) use DejaVu.
RC = {"font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "xtick.labelsize": 8,
      "ytick.labelsize": 8, "legend.fontsize": 8, "figure.titlesize": 14,
      "axes.spines.top": False, "axes.spines.right": False, "hatch.linewidth": 0.8,
      "pdf.use14corefonts": True, "axes.unicode_minus": False,
      # titles at the axes' top, where matplotlib's automatic placement puts them when no
      # tick labels are above the axes (none here: axes_layout.py counts on it), without
      # the tight boxes it measures for that at every draw (a sixth of the saving time)
      "axes.titley": 1.0}


def new_page(title: str, subtitle: str | None = None) -> Figure:
    """An empty A4-landscape Figure on the Agg canvas: title, subtitle, footer band kept free.

    Call it inside `styled()` (as the figure functions do) so fonts follow `RC`. Axes go
    under the subtitle and above the footer (analysis/axes_layout.py places them: no layout
    engine, whose pass would draw the page twice).
    """
    fig = Figure(figsize=A4_LANDSCAPE)
    FigureCanvasAgg(fig)  # headless on any node: no display backend, no pyplot state
    top = CONTENT_TOP if subtitle else CONTENT_TOP + 0.03
    keep_within(fig, (0.02, FOOTER_BAND, 0.98, top))
    fig.text(0.02, 0.975, title, fontsize="x-large", fontweight="bold", va="top",
             parse_math=False)
    if subtitle:  # one line: a longer one is cut, not run into the page
        if len(subtitle) > SUBTITLE_CHARS:
            subtitle = subtitle[:SUBTITLE_CHARS - 1].rstrip() + "…"
        fig.text(0.02, 0.94, subtitle, color="#444444", va="top", parse_math=False)
    return fig


def styled():
    """The rc context every page is built and saved in."""
    # The core fonts' metrics name their weight "medium": matplotlib says so once per font.
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    return matplotlib.rc_context(RC)
