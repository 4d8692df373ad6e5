"""suite/files.py: writing so that a reader sees the old file or the whole new one."""

from __future__ import annotations

import pytest

from suite.files import replacing


def test_two_writers_of_one_output_do_not_share_a_temporary_file(tmp_path):
    out = tmp_path / "report.pdf"
    with replacing(out) as first, replacing(out) as second:
        assert first != second
        first.write_text("first, finished last")
        second.write_text("second")
    assert out.read_text() == "first, finished last"  # whole: the last to finish wins
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_failed_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    out = tmp_path / "sub" / "frame.csv"
    with replacing(out) as tmp:
        tmp.write_text("old")
    with pytest.raises(RuntimeError), replacing(out) as tmp:
        tmp.write_text("half")
        raise RuntimeError("the writer failed")
    assert out.read_text() == "old"
    assert not list(out.parent.glob(".*.tmp"))
