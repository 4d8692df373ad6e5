"""Sections drawn in forked processes and joined: every page once, in order, numbered; a
failure in any process fails the report and leaves no file behind."""

import ast
import os

import pytest
from pypdf import PdfReader

from analysis.pdf_parts import Page, Shared, write_parallel
from analysis.style import new_page, styled


def section(name: str, n: int):
    def build() -> list[Page]:
        with styled():
            return [Page(name, new_page(f"{name} {i}")) for i in range(n)]
    return build


def front(titles: list[str]) -> list[Page]:
    with styled():
        return [Page("front", new_page(f"front of {len(titles)}"))]


def test_pages_are_joined_in_report_order_with_their_numbers(tmp_path):
    sections = [section(f"s{i}", n) for i, n in enumerate([2, 0, 1, 3, 1])]
    out = tmp_path / "r.pdf"
    titles = write_parallel(sections, front=front, footer="left", output=out,
                            metadata={"Title": "t"}, workers=3)
    assert titles == ["front", "s0", "s0", "s2", "s3", "s3", "s3", "s4"]
    reader = PdfReader(out)
    heads = ["front of 7", "s0 0", "s0 1", "s2 0", "s3 0", "s3 1", "s3 2", "s4 0"]
    for i, (page, head) in enumerate(zip(reader.pages, heads, strict=True), start=1):
        text = page.extract_text()
        assert head in text and f"page {i} of 8" in text and "left" in text
    assert reader.metadata.title == "t"
    assert [p.name for p in tmp_path.iterdir()] == ["r.pdf"]


def test_a_failing_section_fails_the_report_and_leaves_nothing(tmp_path):
    def broken() -> list[Page]:
        raise ValueError("no such column")

    sections = [section("a", 1), broken, section("b", 1), section("c", 1)]
    with pytest.raises((ValueError, RuntimeError), match="no such column"):
        write_parallel(sections, front=front, footer="left", output=tmp_path / "r.pdf",
                       metadata={}, workers=2)
    assert not list(tmp_path.iterdir())


def test_shared_parts_are_computed_once_split_between_the_workers_and_seen_by_all(tmp_path):
    made: dict[int, int] = {}  # part -> the process that computed it

    def part(k: int):
        return lambda: (k, made.setdefault(k, os.getpid()))

    def seen() -> list[Page]:  # a section's title: the parts its process holds
        with styled():
            return [Page(repr(sorted(made.items())), new_page("s"))]

    shared = Shared(parts=[part(k) for k in range(3)], adopt=lambda got: made.update([got]))
    titles = write_parallel([seen] * 4, front=front, footer="left", output=tmp_path / "r.pdf",
                            metadata={}, workers=2, shared=shared)
    assert len(set(titles[1:])) == 1  # every section, in either process, saw the same parts
    holders = dict(ast.literal_eval(titles[1]))
    assert sorted(holders) == [0, 1, 2]
    assert holders[0] == holders[2] != holders[1]  # 0 and 2 in one process, 1 in the other
    assert os.getpid() not in holders.values()  # this process draws nothing: it coordinates
