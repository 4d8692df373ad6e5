"""Promise 7: a full disk or a read-only output folder is a clear error (exit 3, the fix
named) before the sweep starts; a disk that fills up during a sweep stops it with the same
kind of error, not a traceback, and --resume completes it once there is room.

Real file systems: a tmpfs mounted for the test (root only; skipped where it cannot be
mounted). A folder made read-only by its mode (root's CAP_DAC_OVERRIDE dropped) is
tests/slurm/test_local_cli.py::test_a_read_only_output_folder_is_refused_before_anything_runs
and the campaign's read-only-folder fault.
"""

from __future__ import annotations

import time

import pytest

from reliability import cases as fault_cases
from reliability import inject
from reliability.case import Verdict
from results.store import runs_dir
from slurm import shm


@pytest.fixture
def mountable(tmp_path):
    if why := inject.can_mount(tmp_path / "probe"):
        pytest.skip(why)


def refused_before_anything(case, message: str) -> None:
    assert case.launches == 1
    err = case.stderr()
    assert message in err and "fix:" in err and "Traceback" not in err, err
    assert (case.folder / "launch-1.out").read_text() == ""  # not even the sweep's first line
    assert not (case.out / "plan.json").exists()
    assert not runs_dir(case.out).exists() or not any(runs_dir(case.out).iterdir())


def test_a_nearly_full_disk_is_refused_before_anything_runs(make_case, mountable):
    case = make_case("small-disk")
    with inject.Tmpfs(case.out, "2m"):
        assert case.finish(case.start()) == 3
        refused_before_anything(case, f"the output folder {case.out} has 2 MB free, memsweep "
                                      f"needs at least 100 MB")


def test_a_read_only_file_system_is_refused_before_anything_runs(make_case, mountable):
    case = make_case("read-only-fs")
    with inject.Tmpfs(case.out, "200m") as fs:
        fs.resize("200m", read_only=True)  # EROFS: binds root too
        assert case.finish(case.start()) == 3
        refused_before_anything(case, f"cannot write to the output folder {case.out}: "
                                      f"Read-only file system")


@pytest.mark.slow
def test_a_disk_that_fills_mid_sweep_stops_it_clearly_and_resume_completes_it(make_case,
                                                                              mountable):
    case = make_case("disk-full")
    since = time.time()
    seen = fault_cases.disk_full(case)  # 4 MB refused; 160 MB filled mid-run; --resume
    assert seen.expected, seen
    assert shm.leftovers(since) == []  # the ranks that could not write died: not their memory
    full = (case.folder / "launch-2.err").read_text()
    assert full.startswith(f"memsweep: error: cannot write into the output folder {case.out} "
                           f"any more (run {case.run_ids[0]}, 1 of 2): No space left on device")
    assert "then run the same command with --resume" in full and "Traceback" not in full
    assert case.checked == Verdict(planned=2, records=2, lost=0, invalid=0, left=0)
    kept = sorted(p.name for p in (case.folder / "runs-from-tmpfs").iterdir())
    assert kept == sorted(f"{run_id}.json" for run_id in case.run_ids)

