"""A report's sections drawn in forked processes, each saving its own to a PDF, joined in order.

Drawing is most of a report's time (figures, their layout, their text) and the
sections are independent of one another. `workers` forked processes first split
the work the sections share (the Analysis' comparisons: `Shared`), each
computing its share and handing it to the others through this one; then each
takes the next section nobody has taken and builds its pages. Once every
section's titles are known, this process makes the front pages (the title page
lists every section's pages) and tells the others each section's first page
number and the page count; each then adds the footers and saves its sections in
one PDF of its own (not one per section: each file parses and writes its fonts
again); the sections' pages are joined in report order (pypdf) and the output
replaced at once. The pages are the same Figures the serial path saves, from the
same section calls. This process draws none of them: the figures live and die in
the forked ones, which exit without freeing them (a full collection of a
report's figures here took ~0.2 s once the collector was back on).
"""

from __future__ import annotations

import multiprocessing
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from pypdf import PdfReader, PdfWriter

from analysis.style import FOOTER_BAND, styled
from suite.files import replacing


@dataclass(frozen=True)
class Page:
    title: str  # its section, as listed in the contents
    figure: Figure


Section = Callable[[], list[Page]]  # builds one section's pages


@dataclass(frozen=True, kw_only=True)
class Shared:
    """Work the sections share, in parts: process i of n computes parts i, i + n, ...
    (`parts[k]()` returns what it made, sent to the other processes as a pickle) and each
    process `adopt`s what the others made, before any section is built."""

    parts: list[Callable[[], object]]
    adopt: Callable[[object], None]

    def __post_init__(self) -> None:
        if not all(callable(p) for p in self.parts) or not callable(self.adopt):
            raise ValueError("Shared takes parts=[calls with no argument] and adopt=a call "
                             "taking what one part returned")

    def compute(self, process: int, processes: int) -> list:
        return [part() for part in self.parts[process::processes]]


@dataclass(frozen=True, kw_only=True)
class _Plan:
    first: dict[int, int]  # section index -> its first page's number
    total: int  # pages in the report
    footer: str  # left of every page's footer


def add_footers(pages: list[Page], left: str, *, first: int = 1,
                total: int | None = None) -> None:
    """`left` and `page i of n` at the foot of every page, numbered from `first`; `total`
    is n (by default the pages given)."""
    y = FOOTER_BAND / 2
    total = len(pages) + first - 1 if total is None else total
    for i, page in enumerate(pages, start=first):
        page.figure.text(0.02, y, left, fontsize=8, color="#555555", va="center",
                         parse_math=False)
        page.figure.text(0.98, y, f"page {i} of {total}", fontsize=8, color="#555555",
                         va="center", ha="right")


def write_parallel(sections: list[Section], *, front: Callable[[list[str]], list[Page]],
                   footer: str, output: Path, metadata: dict[str, str], workers: int,
                   shared: Shared | None = None) -> list[str]:
    """Write `front(body titles)` then every section's pages to `output` (footers on every
    page) with `workers` forked processes, `shared` computed first, split between them;
    return the titles of every page, in order."""
    context = multiprocessing.get_context("fork")  # the children share the Analysis as is
    taken = context.Value("i", 0)
    shared = shared or Shared(parts=[], adopt=lambda made: None)
    with tempfile.TemporaryDirectory(prefix=f".{output.name}.", dir=output.parent) as tmp:
        folder = Path(tmp)
        children = [_Child.start(context, sections, taken, folder, shared, (i, workers))
                    for i in range(max(workers, 1))]
        try:
            _share(children)
            owned = [child.receive() for child in children]  # per child: its sections' titles
            titles = {i: mine for built in owned for i, mine in built.items()}
            body = [t for i in range(len(sections)) for t in titles[i]]
            head = front(body)
            plan = _plan(titles, len(head), footer)
            for child in children:
                child.send(plan)
            save_pages(head, folder / "front.pdf", footer=footer, total=plan.total)
            for child in children:
                child.receive()
        except BaseException:
            for child in children:  # their work is of no use now
                child.process.terminate()
            raise
        finally:
            for child in children:
                child.process.join()
                child.conn.close()
        _join([(folder / "front.pdf", 0, len(head)), *_pieces(owned, folder)], output,
              metadata)
    return [p.title for p in head] + body


def _pieces(owned: list[dict[int, list[str]]], folder: Path) -> list[tuple[Path, int, int]]:
    """(file, first page, page count) of every section with pages, in report order: in each
    process' file, its sections in order."""
    pieces = {}
    for k, built in enumerate(owned):
        start = 0
        for i in sorted(built):
            if built[i]:
                pieces[i] = (folder / _name(k), start, len(built[i]))
                start += len(built[i])
    return [pieces[i] for i in sorted(pieces)]


def _share(children: list[_Child]) -> None:
    """Each child gets the parts of the shared work the others computed."""
    made = [child.receive() for child in children]
    for i, child in enumerate(children):
        child.send([part for j, parts in enumerate(made) if j != i for part in parts])


def _plan(titles: dict[int, list[str]], front: int, footer: str) -> _Plan:
    first, number = {}, front + 1
    for i in sorted(titles):
        first[i] = number
        number += len(titles[i])
    return _Plan(first=first, total=number - 1, footer=footer)


def _build(sections: list[Section], taken) -> dict[int, list[Page]]:
    """Build the next section not yet taken, until none is left."""
    built = {}
    while True:
        with taken.get_lock():
            i = taken.value
            taken.value += 1
        if i >= len(sections):
            return built
        built[i] = sections[i]()


def _save(built: dict[int, list[Page]], plan: _Plan, path: Path) -> None:
    """The sections `built` here, in order, as one PDF (none if they have no pages)."""
    if not any(built.values()):
        return
    with styled(), PdfPages(path) as pdf:
        for i in sorted(built):
            add_footers(built[i], plan.footer, first=plan.first[i], total=plan.total)
            for page in built[i]:
                pdf.savefig(page.figure)


def save_pages(pages: list[Page], path: Path, *, footer: str, first: int = 1,
               total: int | None = None, metadata: dict | None = None) -> None:
    """`pages` as a PDF at `path`, footers added (numbered as `add_footers` does)."""
    with styled(), PdfPages(path, metadata=metadata) as pdf:
        add_footers(pages, footer, first=first, total=total)
        for page in pages:
            pdf.savefig(page.figure)


def _name(process: int) -> str:
    return f"process-{process:03d}.pdf"


def _join(pieces: list[tuple[Path, int, int]], output: Path, metadata: dict[str, str]) -> None:
    """The pages of each (file, first page, count) piece, in order, as one PDF, written
    atomically."""
    writer = PdfWriter()
    readers: dict[Path, PdfReader] = {}
    for path, start, count in pieces:
        reader = readers.setdefault(path, PdfReader(path))
        writer.append(reader, pages=(start, start + count))
    writer.add_metadata({**{f"/{k}": v for k, v in metadata.items()},
                         "/CreationDate": datetime.now(timezone.utc).strftime("D:%Y%m%d%H%M%SZ")})
    with replacing(output) as tmp, open(tmp, "wb") as f:
        writer.write(f)


@dataclass(frozen=True)
class _Child:
    """A forked process computing its parts of the shared work, then building and saving
    sections; it answers over `conn`: its parts (given the others' in return), its sections'
    titles, then (given the plan) that they are saved."""

    process: multiprocessing.Process
    conn: object

    @classmethod
    def start(cls, context, sections: list[Section], taken, folder: Path, shared: Shared,
              place: tuple[int, int]) -> _Child:
        ours, theirs = context.Pipe()
        process = context.Process(target=_child_main, daemon=True,
                                  args=(sections, taken, folder, shared, place, theirs))
        process.start()
        theirs.close()
        return cls(process, ours)

    def receive(self):
        try:
            kind, value = self.conn.recv()
        except EOFError:
            self.process.join()
            raise RuntimeError("a report process ended without an answer (exit code "
                               f"{self.process.exitcode})") from None
        if kind == "failed":
            raise RuntimeError(f"a report process failed:\n{value}")
        return value

    def send(self, message) -> None:
        self.conn.send(message)


def _child_main(sections: list[Section], taken, folder: Path, shared: Shared,
                place: tuple[int, int], conn) -> None:
    try:
        conn.send(("shared", shared.compute(*place)))
        try:
            others = conn.recv()
        except EOFError:  # the parent gave up: nothing to build
            return
        for part in others:
            shared.adopt(part)
        built = _build(sections, taken)
        conn.send(("titles", {i: [p.title for p in pages] for i, pages in built.items()}))
        try:
            plan = conn.recv()
        except EOFError:  # the parent gave up: nothing to save
            return
        _save(built, plan, folder / _name(place[0]))
        conn.send(("saved", None))
    except Exception:
        conn.send(("failed", traceback.format_exc()))
    finally:
        conn.close()
