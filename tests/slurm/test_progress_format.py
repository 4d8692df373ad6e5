"""The progress lines and the summary (pure formatting, and the printer on a non-terminal)."""

from __future__ import annotations

import io
from pathlib import Path

from slurm import progress
from slurm.local import _labels
from slurm.progress import Done, Printer
from suite.sweep import parse_sweep


def test_the_progress_lines_name_a_scenario_by_what_differs_from_the_defaults():
    sweep = parse_sweep({"sweep": {"name": "s", "repetitions": 2},
                         "axes": {"model": "tiny", "world_size": 2, "zero_stage": [0, 3],
                                  "grad_accum": 4, "precision": "bf16", "optimizer": "adamw"}})
    head = "tiny · 2 ranks · grad-accum 4 · "
    assert _labels(sweep) == [head + "precision=bf16 · rep 0", head + "precision=bf16 · rep 1",
                              head + "zero_stage=3 + precision=bf16 · rep 0",
                              head + "zero_stage=3 + precision=bf16 · rep 1"]


def test_clock():
    assert [progress.clock(s) for s in (0, 35, 59.6, 724, 3723)] == \
        ["0:00", "0:35", "1:00", "12:04", "1:02:03"]


def test_eta_is_the_median_run_times_the_runs_left():
    assert progress.eta_s([10.0, 12.0, 100.0], 2) == 24.0
    assert progress.eta_s([], 3) is None  # nothing to go on yet
    assert progress.eta_s([5.0], 0) == 0.0


def test_a_line_as_in_the_example():
    line = progress.head(3, 14, "tiny · 2 ranks · zero_stage=2", 29) + progress.tail(
        status="ok", duration_s=11.84, elapsed_s=35, eta=130)
    assert line == ("[ 3/14] tiny · 2 ranks · zero_stage=2 ... ok          11.8s  "
                    "(elapsed 0:35, eta 2:10)")


def test_columns_line_up_whatever_the_status():
    a = progress.tail(status="ok", duration_s=1.0, elapsed_s=1, eta=None)
    b = progress.tail(status="cancelled", duration_s=1.0, elapsed_s=1, eta=None)
    c = progress.tail(status="skipped", duration_s=None, elapsed_s=1, eta=None, note="why")
    assert a.index("(") == b.index("(") == c.index("(")
    assert "eta" not in a and c.endswith("  why")


def test_color_only_when_asked():
    assert "\033[" not in progress.tail(status="failed", duration_s=1, elapsed_s=1, eta=None)
    assert progress.tail(status="failed", duration_s=1, elapsed_s=1, eta=None,
                         color=True).startswith("\033[31mfailed")
    assert progress.tail(status="ok", duration_s=1, elapsed_s=1, eta=None,
                         color=True).startswith("\033[32mok")
    assert not progress.wants_color(io.StringIO(), {})


def test_summary_counts_lists_what_is_not_ok_and_says_what_next():
    done = [Done(index=1, label="tiny z0", status="ok"),
            Done(index=2, label="tiny z1", status="failed", reason="exit code 1\nmore",
                 log_path="/o d/logs/b.log"),
            Done(index=3, label="tiny z2", status="ok")]
    lines = progress.summary(done=done, total=3, elapsed_s=75, out=Path("/o d"))
    assert lines[0] == "3 of 3 runs in 1:15: 2 ok, 1 failed"
    assert "  [2] tiny z1: failed: exit code 1 (log: /o d/logs/b.log)" in lines
    assert lines[-1] == "next:    memsweep report '/o d'"
    assert not any(line.startswith("interrupted") for line in lines)


def test_summary_of_an_interrupted_sweep_says_how_to_go_on():
    done = [Done(index=1, label="tiny z0", status="cancelled", reason="interrupted")]
    lines = progress.summary(done=done, total=4, elapsed_s=5, out=Path("/o"))
    assert any(line.startswith("interrupted: 3 runs not started") and "--resume" in line
               for line in lines)


def test_printer_off_a_terminal_prints_whole_uncolored_lines():
    stream = io.StringIO()
    printer = Printer(total=2, width=7, stream=stream)
    printer.start(1, "tiny z0")
    assert stream.getvalue() == ""  # nothing half-written into a log file
    printer.finish(status="failed", duration_s=2.0, elapsed_s=2, eta=2.0)
    assert stream.getvalue() == "[1/2] tiny z0 ... failed       2.0s  (elapsed 0:02, eta 0:02)\n"
