"""The report's frame leaves out only columns no part of the report reads."""

import re
from pathlib import Path

import analysis
from analysis.fig_memory import COMPONENTS
from analysis.report_columns import UNREAD, report_frame
from results.frame import COLUMNS, records_frame
from results.load import load_records
from suite.axes import AXES


def test_every_unread_column_is_a_frame_column_and_no_axis():
    assert set(UNREAD) <= set(COLUMNS) and len(set(UNREAD)) == len(UNREAD)
    assert not set(UNREAD) & {*AXES, "stable", "source_dir", "night"}
    assert not set(UNREAD) & {f"tensor_peak_{c}_bytes" for c in COMPONENTS}  # the breakdown


def test_no_analysis_module_names_an_unread_column():
    """A module that starts reading one of them must take it out of UNREAD (a name in
    quotes: `"mfu"`, or `f"...{x}"` spelt whole)."""
    named = {}
    for path in Path(analysis.__file__).parent.glob("*.py"):
        if path.name == "report_columns.py":
            continue
        for name in set(re.findall(r"[\"']([a-z0-9_]+)[\"']", path.read_text())) & set(UNREAD):
            named.setdefault(name, []).append(path.name)
    assert not named


def test_the_report_frame_is_the_frame_without_them(sweep_dir):
    frame = records_frame(load_records(sweep_dir)[0])
    narrow = report_frame(frame)
    assert list(narrow.columns) == [c for c in frame.columns if c not in UNREAD]
    assert narrow.equals(frame[list(narrow.columns)])
    assert report_frame(narrow) is narrow
