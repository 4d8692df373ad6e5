"""Promise 8: Ctrl-C on `memsweep run` stops the ranks it started, records the run going on
as `cancelled` (exit 130; SIGTERM: 143), and `--resume` goes on from there: the cancelled run
again (attempt 2), the runs never started, the ok ones kept as they were.

A SIGKILL to the launcher cannot be recorded, but it must not leave the ranks running: mpiexec
gets SIGTERM when its parent dies (slurm/spawn.py) and ends them.

The interrupt itself, for SIGINT and SIGTERM, is also
tests/slurm/test_local_cli.py::test_an_interrupt_cancels_the_current_run_and_stops_the_sweep.
"""

from __future__ import annotations

import signal

import pytest

from reliability import cases as fault_cases
from reliability import inject
from reliability.cases import LONG

pytestmark = pytest.mark.slow


def test_ctrl_c_cancels_the_run_and_resume_goes_on_from_there(make_case):
    case = make_case("interrupt")
    first, second = case.run_ids
    assert case.finish(case.start()) == 0  # both ok: the second is kept by --resume below
    kept = case.record_path(second).read_bytes()
    # Again without --resume: the first run is interrupted in its step 3, the second waits.
    proc = case.start(config={first: LONG})
    assert inject.wait_for(case.log(first), "# memsweep: attempt 2,", launcher=proc)  # its
    assert inject.wait_for(case.log(first), " step 3\n", launcher=proc)  # log, replaced
    ranks = inject.ranks(proc.pid, first)
    assert sorted(ranks) == [0, 1]
    inject.interrupt(proc, signal.SIGINT)  # Ctrl-C: the launcher's process group
    assert case.finish(proc, timeout_s=60) == 130
    assert not any(p.is_running() and p.status() != "zombie" for p in ranks.values())
    assert case.verify().left == 0
    cancelled, old = case.records()
    assert (cancelled.status, cancelled.attempt) == ("cancelled", 2)
    assert "interrupted (SIGINT)" in cancelled.reason and " step 3" in cancelled.log_tail
    assert case.record_path(second).read_bytes() == kept  # not started: attempt 1 stays
    out = (case.folder / "launch-2.out").read_text()
    assert "interrupted: 1 runs not started" in out and "--resume" in out

    assert case.finish(case.start("--resume")) == 0
    resumed, still = case.records()
    assert (resumed.status, resumed.attempt) == ("ok", 3)  # the cancelled run, again
    assert case.record_path(second).read_bytes() == kept  # the ok one, kept
    assert "kept from attempt 1 (--resume)" in (case.folder / "launch-3.out").read_text()
    assert case.load()[1] == [] and case.verify().left == 0


def test_a_sigkilled_launcher_leaves_no_rank_running_and_resume_runs_the_run(make_case):
    case = make_case("launcher-sigkill")
    seen = fault_cases.launcher_kill(case)
    assert seen.expected, seen
    assert "0 process(es) left" in seen.detail
    assert [(r.status, r.attempt) for r in case.records()] == [("ok", 1), ("ok", 1)]
    assert case.load()[1] == [] and case.verify().left == 0
