"""Time and memory probes and the step-time statistics."""

from __future__ import annotations

import sys

import pytest

from jobs import probes


def test_median_and_iqr():
    assert probes.median_iqr([1.0, 2.0, 3.0, 4.0, 5.0]) == (3.0, 2.0)
    assert probes.median_iqr([0.5]) == (0.5, 0.0)
    with pytest.raises(ValueError):
        probes.median_iqr([])


def test_a_step_lasts_as_long_as_its_slowest_rank():
    assert probes.slowest_per_step([[1.0, 5.0], [2.0, 3.0]]) == [2.0, 5.0]
    with pytest.raises(ValueError, match="different step counts"):
        probes.slowest_per_step([[1.0], [1.0, 2.0]])


def test_timed_returns_the_result_and_positive_seconds():
    result, seconds = probes.timed(lambda: 42, "cpu")
    assert result == 42 and seconds > 0


def test_no_device_peaks_on_cpu():
    assert probes.device_peaks("cpu") == (None, None)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="procfs")
def test_peak_rss_follows_an_allocation_and_can_be_reset():
    block = bytearray(64 * 2**20)  # a mapping of its own: freed back to the system on del
    block[::4096] = b"x" * len(block[::4096])  # touch every page: resident
    with_block = probes.peak_rss_bytes()
    del block
    if not probes.reset_peak_rss():
        pytest.skip("this kernel refuses to reset the high-water mark (clear_refs)")
    assert probes.peak_rss_bytes() < with_block - 32 * 2**20
