"""The launch command and the ranks' environment (pure)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from slurm.launch import WORKER, build_launch, rank_env
from suite.errors import UserInputError


def launch(**over):
    kwargs = dict(mpiexec="/venv/bin/mpiexec", python="/venv/bin/python", world_size=2,
                  device="cpu", plan=Path("/o/plan.json"), run_id="a6b01b2e7d5fc478",
                  out=Path("/o"), attempt=3, cores=8, environ={})
    return build_launch(**{**kwargs, **over})


def test_the_worker_command_line_of_the_contract():
    assert launch().argv == (
        "/venv/bin/mpiexec", "-n", "2", "/venv/bin/python", "-m", "jobs.worker",
        "--plan", "/o/plan.json", "--run-id", "a6b01b2e7d5fc478", "--out", "/o",
        "--attempt", "3")
    assert WORKER == ("-m", "jobs.worker")


def test_the_worker_program_is_injectable():
    argv = launch(worker=("/tests/stand_in.py",)).argv
    assert argv[3:5] == ("/venv/bin/python", "/tests/stand_in.py")
    assert "-m" not in argv


def test_cpu_ranks_get_the_cpu_accelerator_and_unbuffered_output():
    assert rank_env(device="cpu", ranks=2, cores=8, environ={}) == {
        "PYTHONUNBUFFERED": "1", "DS_ACCELERATOR": "cpu", "OMP_NUM_THREADS": "4"}
    assert "DS_ACCELERATOR" not in rank_env(device="cuda", ranks=2, cores=8, environ={})


@pytest.mark.parametrize(("cores", "ranks", "threads"), [(8, 2, "4"), (2, 2, "1"), (2, 4, "1"),
                                                         (7, 2, "3"), (1, 1, "1")])
def test_omp_threads_share_the_cores_at_least_one_each(cores, ranks, threads):
    assert rank_env(device="cpu", ranks=ranks, cores=cores, environ={})["OMP_NUM_THREADS"] \
        == threads


def test_the_users_omp_threads_is_left_alone():
    assert "OMP_NUM_THREADS" not in rank_env(device="cpu", ranks=2, cores=8,
                                             environ={"OMP_NUM_THREADS": "3"})


def test_shell_line_quotes_every_value_and_round_trips():
    item = launch(out=Path("/my out/x"), plan=Path("/my out/x/plan.json"))
    line = item.shell()
    assert "'/my out/x'" in line
    words = shlex.split(line)
    assert words[:3] == ["PYTHONUNBUFFERED=1", "DS_ACCELERATOR=cpu", "OMP_NUM_THREADS=4"]
    assert tuple(words[3:]) == item.argv


def test_a_run_id_that_is_not_a_safe_name_never_reaches_the_command():
    with pytest.raises(UserInputError):
        launch(run_id="x; rm -rf /")


@pytest.mark.parametrize("bad", [{"world_size": 0}, {"attempt": 0}, {"cores": 0}])
def test_counts_below_one_are_refused(bad):
    with pytest.raises(ValueError):
        launch(**bad)
