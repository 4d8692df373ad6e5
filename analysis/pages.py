"""Text pages of the report: title, tables, failures, "no ok runs". Each returns Figures."""

from __future__ import annotations

import textwrap

import pandas as pd
from matplotlib.figure import Figure

from analysis.style import CONTENT_TOP, FAIL_COLOR, FOOTER_BAND, new_page, styled

ROWS_PER_PAGE = 30
LINES_PER_PAGE = 55
KV_STEP = 0.027  # page height of one line of the title page
WRAP = 150  # characters of a monospace line at the failures page's font size


def title_page(title: str, facts: list[tuple], environment: pd.DataFrame,
               contents: list[str]) -> Figure:
    """The sweep at a glance: `facts` (name, value[, colour]), the fingerprint, the pages."""
    with styled():
        fig = new_page(title)
        _key_values(fig, 0.02, 0.87, facts, width=70)
        env = list(environment.itertuples(index=False, name=None))
        if env:
            y = 0.87 - KV_STEP * len(facts) - 0.05
            fig.text(0.02, y, "Environment (fingerprint of the runs)", fontweight="bold")
            _key_values(fig, 0.02, y - 0.035, env, width=70)
        fig.text(0.55, 0.87, "Contents", fontweight="bold", va="top")
        lines = "\n".join(f"{i:>3}  {textwrap.shorten(t, 75)}"
                          for i, t in enumerate(contents, start=1))
        fig.text(0.55, 0.84, lines, family="monospace", va="top", linespacing=1.5,
                 parse_math=False)
        return fig


def _key_values(fig: Figure, x: float, y: float, pairs, *, width: int) -> None:
    """Rows of `key  value` (a third item, if any, is the value's colour)."""
    for i, (key, value, *color) in enumerate(pairs):
        fig.text(x, y - i * KV_STEP, str(key), va="top", color="#444444", parse_math=False)
        fig.text(x + 0.14, y - i * KV_STEP, textwrap.shorten(str(value), width), va="top",
                 color=color[0] if color else "black", parse_math=False)


def table_pages(table: pd.DataFrame, title: str, subtitle: str | None = None) -> list[Figure]:
    """`table` as pages of at most ROWS_PER_PAGE rows each, header repeated."""
    pages = []
    for start in range(0, max(len(table), 1), ROWS_PER_PAGE):
        chunk = table.iloc[start:start + ROWS_PER_PAGE]
        more = f" (rows {start + 1}-{start + len(chunk)} of {len(table)})" \
            if len(table) > ROWS_PER_PAGE else ""
        with styled():
            fig = new_page(title + more, subtitle)
            fig.set_layout_engine("none")  # the table places itself: no layout passes
            ax = fig.add_axes((0.02, FOOTER_BAND + 0.02, 0.96, CONTENT_TOP - FOOTER_BAND - 0.03))
            ax.axis("off")
            if chunk.empty:
                ax.text(0.5, 0.5, "no rows", ha="center", va="center")
            else:
                _draw_table(ax, chunk)
        pages.append(fig)
    return pages


def _draw_table(ax, chunk: pd.DataFrame) -> None:
    cells = chunk.astype(str).to_numpy().tolist()
    tab = ax.table(cellText=cells, colLabels=list(chunk.columns), loc="upper center",
                   cellLoc="left", colLoc="left")
    tab.auto_set_font_size(False)
    tab.set_fontsize(8)
    tab.auto_set_column_width(list(range(len(chunk.columns))))
    tab.scale(1, 1.35)
    for (row, _col), cell in tab.get_celld().items():
        cell.set_edgecolor("#BBBBBB")
        cell.get_text().set_parse_math(False)  # a reason or path may hold '$'
        if row == 0:
            cell.set_text_props(fontweight="bold")
            cell.set_facecolor("#EEEEEE")
        elif "status" in chunk and chunk.iloc[row - 1]["status"] != "ok":
            cell.get_text().set_color(FAIL_COLOR)


def text_pages(blocks: list[list[str]], title: str, subtitle: str | None = None) -> list[Figure]:
    """Monospace blocks of lines (wrapped at WRAP) over as many pages as they need.

    A block is not split across pages unless it is longer than a page.
    """
    chunks: list[list[str]] = [[]]
    for block in blocks:
        lines = [w for line in block for w in (textwrap.wrap(
            line, WRAP, subsequent_indent="      ", replace_whitespace=False) or [""])]
        if chunks[-1] and len(chunks[-1]) + len(lines) > LINES_PER_PAGE:
            chunks.append([])
        for line in lines:
            if len(chunks[-1]) == LINES_PER_PAGE:
                chunks.append([])
            chunks[-1].append(line)
    pages = []
    for i, chunk in enumerate(chunks, start=1):
        with styled():
            fig = new_page(title + (f" ({i}/{len(chunks)})" if len(chunks) > 1 else ""),
                           subtitle)
            fig.text(0.02, CONTENT_TOP, "\n".join(chunk), family="monospace", fontsize=7.5,
                     va="top", linespacing=1.25, parse_math=False)
        pages.append(fig)
    return pages


def message_page(title: str, message: str, detail: str = "") -> Figure:
    """A page that says one thing, large: e.g. that no run of the sweep was ok."""
    with styled():
        fig = new_page(title)
        fig.text(0.5, 0.58, message, ha="center", va="center", fontsize=20, color=FAIL_COLOR,
                 fontweight="bold")
        if detail:
            fig.text(0.5, 0.45, detail, ha="center", va="top", fontsize=11, wrap=True)
        return fig
