"""Phases and their peaks, and timing until the median settles (scripted clocks)."""

from __future__ import annotations

import math

import pytest

from jobs import measure, probes

# Whether this machine's kernel lets a process restart its peak RSS (probes.reset_peak_rss).
RESETS = probes.reset_peak_rss()


def scripted(monkeypatch, seconds: list[float]) -> list[int]:
    """probes.timed returns these seconds in turn; the step's result is its index."""
    calls = []

    def timed(fn, device):
        calls.append(len(calls))
        return fn(), seconds[len(calls) - 1]

    monkeypatch.setattr(probes, "timed", timed)
    return calls


def step_counter():
    n = [0]

    def step():
        n[0] += 1
        return float(n[0])  # the "loss" is the step's number

    return step


def test_a_fixed_count_needs_no_agreement_and_keeps_each_ranks_times(monkeypatch):
    scripted(monkeypatch, [1.0, 2.0, 3.0])

    def agree(seconds):
        raise AssertionError("a fixed count must not call a collective")

    times, loss, stable = measure.timed_steps(step_counter(), minimum=3, maximum=0,
                                              device="cpu", agree=agree)
    assert (times, loss, stable) == ([1.0, 2.0, 3.0], 3.0, None)


def test_steady_steps_stop_early_at_the_same_step_on_every_rank(monkeypatch):
    calls = scripted(monkeypatch, [1.0] * 50)
    agreed = []
    times, loss, stable = measure.timed_steps(
        step_counter(), minimum=5, maximum=50, device="cpu",
        agree=lambda s: agreed.append(s) or s * 2)  # the slowest rank's: twice ours
    assert stable is True and len(times) == len(calls) < 50
    assert times == [2.0] * len(times) and len(agreed) == len(times)
    assert loss == 5.0  # the loss of step `minimum`, however many steps follow


def test_drifting_steps_run_to_the_budget_and_say_so(monkeypatch):
    scripted(monkeypatch, [1.0 + 0.1 * i for i in range(12)])
    times, loss, stable = measure.timed_steps(step_counter(), minimum=4, maximum=12,
                                              device="cpu", agree=lambda s: s)
    assert len(times) == 12 and stable is False and loss == 4.0


def test_settled_compares_the_median_before_and_after_the_last_window():
    assert not measure.settled([1.0, 1.0, 1.0], window=3)  # nothing before the window
    assert measure.settled([1.0, 1.2, 1.0, 1.0, 0.99, 1.0, 5.0], window=3)  # an outlier: median
    assert not measure.settled([1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0], window=3)


def test_phases_record_peaks_from_their_start_and_name_the_current_phase():
    phases = measure.Phases("cpu")
    with phases.phase("init"):
        assert measure.current_phase() == "init"
        block = bytearray(48 * 2**20)
        block[::4096] = b"x" * len(block[::4096])  # resident
    init = phases.peaks["init"]
    assert init.host_rss_bytes >= init.host_rss_start_bytes
    # Where the kernel resets the peak (Linux >= 4.0, as here) the phase must have used it.
    assert init.host_reset is RESETS
    if RESETS:
        assert init.host_rss_bytes - init.host_rss_start_bytes > 40 * 2**20
    assert init.device_allocated_bytes is None  # CPU
    del block


def test_the_probe_takes_the_activation_peak_from_the_forward():
    phases = measure.Phases("cpu")
    phases.mark("forward")
    block = bytearray(32 * 2**20)
    block[::4096] = b"x" * len(block[::4096])
    phases.mark("backward")
    del block
    phases.mark("end")
    assert set(phases.peaks) == {"forward", "backward"}
    assert phases.peaks["forward"].host_reset is RESETS
    if RESETS:
        assert phases.activation_peak > 24 * 2**20
    assert measure.current_phase() == "backward"  # the last phase begun


def test_cv():
    assert probes.cv([2.0]) == 0.0
    assert probes.cv([1.0, 3.0]) == pytest.approx(math.sqrt(2) / 2)
