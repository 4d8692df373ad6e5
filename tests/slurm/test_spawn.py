"""slurm/spawn.py: how the local executor and a Slurm task start a launch (real processes)."""

from __future__ import annotations

import shutil
import sys

import pytest

from slurm.launch import Launch
from slurm.outcome import Ending
from slurm.spawn import run_log, spawn, tied


def test_the_log_starts_with_the_attempt_and_the_command_then_the_output(tmp_path):
    launch = Launch(argv=(sys.executable, "-c", "import os; print(os.environ['MARK'])"),
                    env={"MARK": "from the launch env"})
    log = tmp_path / "run.log"
    log.write_text("the previous attempt's log\n")
    with run_log(log, launch=launch, attempt=3) as f:
        proc = spawn(launch, log=f)
    assert proc.wait(timeout=30) == 0
    first, command, output = log.read_text().splitlines()
    assert first.startswith("# memsweep: attempt 3, ")
    assert command == f"# {launch.shell()}"
    assert output == "from the launch env"


def test_a_program_that_is_not_there_is_a_failed_ending_that_names_it(tmp_path):
    launch = Launch(argv=("/nonexistent/mpiexec", "-n", "2"), env={})
    with run_log(tmp_path / "run.log", launch=launch, attempt=1) as f:
        ended = spawn(launch, log=f)
    assert isinstance(ended, Ending) and ended.status == "failed"
    assert ended.reason.startswith("could not start /nonexistent/mpiexec: ")


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="util-linux setpriv not installed")
def test_a_found_program_is_tied_to_its_parent_and_a_missing_one_is_left_alone():
    assert tied((sys.executable, "-V")) == (shutil.which("setpriv"), "--pdeathsig", "TERM", "--",
                                            sys.executable, "-V")
    assert tied(("/nonexistent/mpiexec",)) == ("/nonexistent/mpiexec",)
