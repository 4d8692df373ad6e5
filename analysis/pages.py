"""Text pages of the report: title, findings, tables, failures, messages. Each returns Figures.

Long tables and texts go on over pages up to a cap; the last page then says
how much was left out and where to find all of it (`memsweep collect`).
"""

from __future__ import annotations

import textwrap

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from analysis.style import CONTENT_TOP, FAIL_COLOR, FOOTER_BAND, new_page, styled

ROWS_PER_PAGE = 36
ROW_STEP = 0.0215  # page height of a table row at 7.5 pt
CELL_CHARS = 56  # longer cells are shortened with …
LINES_PER_PAGE = 54
KV_STEP = 0.026  # page height of one line of the title page
WRAP = 150  # characters of a monospace line at the failures page's font size
LEFT_OUT = "{} more {} not shown here: `memsweep collect DIR -o runs.csv` writes every run."


def title_page(title: str, facts: list[tuple], tables: list[tuple[str, pd.DataFrame]],
               contents: list[tuple[str, str]]) -> Figure:
    """The sweep at a glance: `facts` (name, value[, colour]), small tables, the contents."""
    with styled():
        fig = new_page(title)
        y = _key_values(fig, 0.02, 0.88, facts, width=80)
        for heading, table in tables:
            if table.empty:
                continue
            y -= 0.02
            fig.text(0.02, y, heading, fontweight="bold", va="top")
            y = _key_values(fig, 0.02, y - 0.03, list(table.itertuples(index=False, name=None)),
                            width=80, columns=list(table.columns))
        fig.text(0.62, 0.88, "Contents", fontweight="bold", va="top")
        lines = "\n".join(f"{page:>7}  {textwrap.shorten(name, 48)}" for name, page in contents)
        fig.text(0.62, 0.85, lines, family="monospace", va="top", linespacing=1.45,
                 fontsize=8, parse_math=False)
        return fig


def _key_values(fig: Figure, x: float, y: float, rows, *, width: int,
                columns: list[str] | None = None) -> float:
    """Rows of `key  value...` (in facts, a third item is the value's colour); returns the y
    under the last row."""
    if columns and len(columns) > 2:  # a small table: a header and one line per row
        widths = [max(len(str(c)), *(len(str(r[i])) for r in rows)) for i, c in
                  enumerate(columns)]
        lines = ["  ".join(str(c).ljust(w) for c, w in zip(columns, widths, strict=True))]
        lines += ["  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True))
                  for r in rows]
        lines = [line if len(line) <= 110 else line[:109] + "…" for line in lines]
        fig.text(x, y, "\n".join(lines), family="monospace", fontsize=7.5, va="top",
                 linespacing=1.35, parse_math=False)
        return y - 0.022 * len(lines)
    for i, (key, value, *color) in enumerate(rows):
        fig.text(x, y - i * KV_STEP, str(key), va="top", color="#444444", parse_math=False)
        fig.text(x + 0.13, y - i * KV_STEP, textwrap.shorten(str(value), width), va="top",
                 color=color[0] if color else "black", parse_math=False)
    return y - KV_STEP * len(rows)


def findings_pages(title: str, sentences: list[tuple[str, str]], subtitle: str | None = None
                   ) -> list[Figure]:
    """Findings as bullets under their section's heading (in bold), over as many pages as
    they need."""
    lines: list[tuple[str, str]] = []  # (kind, text): kind "head", "item", "more", "gap"
    for section, text in sentences:
        if not lines or lines[-1][0] == "gap" or section != _last_head(lines):
            if lines:
                lines.append(("gap", ""))
            lines.append(("head", section))
        wrapped = textwrap.wrap(text, 150)
        lines += [("item", wrapped[0]), *(("more", w) for w in wrapped[1:])]
    pages, y, fig = [], 0.0, None
    for kind, text in lines:
        if fig is None or y < FOOTER_BAND + 0.05:
            with styled():
                fig = new_page(title, subtitle)
            pages.append(fig)
            y = CONTENT_TOP - 0.01
            if kind == "gap":
                continue
        if kind == "head":
            fig.text(0.03, y, text, fontweight="bold", va="top", fontsize=10, parse_math=False)
        elif kind != "gap":
            fig.text(0.05 if kind == "item" else 0.062, y, ("•  " if kind == "item"
                                                            else "") + text,
                     va="top", fontsize=10, parse_math=False)
        y -= {"head": 0.032, "item": 0.029, "more": 0.029, "gap": 0.018}[kind]
    return pages


def _last_head(lines: list[tuple[str, str]]) -> str | None:
    return next((t for k, t in reversed(lines) if k == "head"), None)


def table_pages(table: pd.DataFrame, title: str, subtitle: str | None = None, *,
                max_pages: int | None = None, what: str = "rows") -> list[Figure]:
    """`table` as pages of at most ROWS_PER_PAGE rows each, header repeated, up to
    `max_pages` pages (the last one says how many rows were left out)."""
    pages = []
    n_pages = -(-max(len(table), 1) // ROWS_PER_PAGE)
    shown = n_pages if max_pages is None else min(n_pages, max_pages)
    for page in range(shown):
        start = page * ROWS_PER_PAGE
        chunk = table.iloc[start:start + ROWS_PER_PAGE]
        more = f" (rows {start + 1}-{start + len(chunk)} of {len(table)})" \
            if len(table) > ROWS_PER_PAGE else ""
        left = len(table) - (start + len(chunk))
        with styled():
            fig = new_page(title + more, subtitle)
            if chunk.empty:
                fig.text(0.5, 0.5, "no rows", ha="center", va="center")
            else:
                _draw_table(fig, chunk)
            if page == shown - 1 and left > 0:
                fig.text(0.02, FOOTER_BAND + 0.01, LEFT_OUT.format(f"{left:,}", what),
                         color=FAIL_COLOR, fontsize=8, parse_math=False)
        pages.append(fig)
    return pages


def _draw_table(fig: Figure, chunk: pd.DataFrame) -> None:
    """Monospace rows under a bold header and a rule; rows of runs not ok (or regressions)
    in red. Text, not a matplotlib Table: a page of cells draws hundreds of times slower."""
    text = chunk.astype(str)
    # column by column as lists: DataFrame.map calls through pandas per cell (24 pages of
    # 36 rows: 45 -> 10 ms)
    cells = [[_cell(v) for v in text.iloc[:, i].tolist()] for i in range(text.shape[1])]
    widths = [max(len(str(c)), *(len(v) for v in column))
              for c, column in zip(text.columns, cells, strict=True)]
    size = 7.5 if sum(widths) + 2 * len(widths) <= 170 else 6.5

    def line(values) -> str:
        return "  ".join(str(v).ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    y = CONTENT_TOP - 0.005
    fig.text(0.02, y, line(text.columns), family="monospace", fontsize=size,
             fontweight="bold", va="top", parse_math=False)
    step = ROW_STEP * size / 7.5
    fig.add_artist(Line2D([0.02, 0.98], [y - step * 0.95] * 2, color="#999999", linewidth=0.6))
    bad = _bad_rows(chunk)
    for i, values in enumerate(zip(*cells, strict=True)):
        fig.text(0.02, y - step * (i + 1.15), line(values), family="monospace", fontsize=size,
                 va="top", color=FAIL_COLOR if bad[i] else "black", parse_math=False)


def _cell(value: str) -> str:
    return textwrap.shorten(value, CELL_CHARS, placeholder="…") if len(value) > CELL_CHARS \
        else value


def _bad_rows(chunk: pd.DataFrame) -> list[bool]:
    if "verdict" in chunk:
        return [str(v) == "REGRESSION" for v in chunk["verdict"]]
    if "status" in chunk:
        return [not str(v).startswith(("ok", "same", "better")) for v in chunk["status"]]
    return [False] * len(chunk)


def text_pages(blocks: list[list[str]], title: str, subtitle: str | None = None, *,
               max_pages: int | None = None, what: str = "entries") -> list[Figure]:
    """Monospace blocks of lines (wrapped at WRAP) over as many pages as they need, up to
    `max_pages`. A block is not split across pages unless it is longer than a page."""
    chunks: list[list[str]] = [[]]
    placed = []  # how many blocks each page starts with
    for n, block in enumerate(blocks):
        lines = [w for line in block for w in _wrapped(line)]
        if chunks[-1] and len(chunks[-1]) + len(lines) > LINES_PER_PAGE:
            chunks.append([])
            placed.append(n)
        for line in lines:
            if len(chunks[-1]) == LINES_PER_PAGE:
                chunks.append([])
                placed.append(n)
            chunks[-1].append(line)
    shown = len(chunks) if max_pages is None else min(len(chunks), max_pages)
    left = len(blocks) - placed[shown - 1] if shown < len(chunks) else 0
    pages = []
    for i, chunk in enumerate(chunks[:shown], start=1):
        with styled():
            fig = new_page(title + (f" ({i}/{shown})" if shown > 1 else ""), subtitle)
            step = (CONTENT_TOP - FOOTER_BAND - 0.035) / LINES_PER_PAGE
            for n, line in enumerate(chunk):  # a line each: the page fills in any font
                fig.text(0.02, CONTENT_TOP - n * step, line, family="monospace",
                         fontsize=7.5, va="top", parse_math=False)
            if i == shown and left:
                fig.text(0.02, FOOTER_BAND + 0.01, LEFT_OUT.format(f"{left:,}", what),
                         color=FAIL_COLOR, fontsize=8, parse_math=False)
        pages.append(fig)
    return pages


def _wrapped(line: str) -> list[str]:
    """`line` wrapped at WRAP characters (a blank line: one empty line). Most lines fit and
    are their own wrap: textwrap's word splitting is skipped for them (446 failure groups:
    35 -> 5 ms)."""
    if 0 < len(line) <= WRAP and not line[-1].isspace() \
            and not any(c in line for c in "\t\n\r\x0b\x0c"):
        return [line]  # what textwrap returns for it: no tab to expand, no end space to drop
    return textwrap.wrap(line, WRAP, subsequent_indent="      ",
                         replace_whitespace=False) or [""]


def message_page(title: str, message: str, detail: str = "") -> Figure:
    """A page that says one thing, large: e.g. that no run of the sweep was ok."""
    with styled():
        fig = new_page(title)
        fig.text(0.5, 0.58, message, ha="center", va="center", fontsize=20, color=FAIL_COLOR,
                 fontweight="bold")
        if detail:
            fig.text(0.5, 0.45, detail, ha="center", va="top", fontsize=11, wrap=True)
        return fig
