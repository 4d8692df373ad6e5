"""Fixtures of tests/analysis; the record factory lives in sweepdata.py."""

from pathlib import Path

import pytest
from sweepdata import FAILURES, write_sweep


@pytest.fixture
def sweep_dir(tmp_path) -> Path:
    """14 runs (2 models × 7 configs): 12 ok, 1 failed, 1 oom; and one corrupt file."""
    write_sweep(tmp_path / "smoke", failures=FAILURES)
    return tmp_path / "smoke"
