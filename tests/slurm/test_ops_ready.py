"""`submit` asks, before submitting anything, whether the DeepSpeed ops of its runs are built
for this installation (slurm/ops_ready.py). A second installation's submit that would compile
them exits 3 up front: tests/jobs/test_ops.py (marked slurm)."""

from __future__ import annotations

import shutil

import pytest
from executor_support import make_sweep

from jobs import ops
from slurm.ops_ready import missing, needed_by_device
from suite.errors import EnvironmentProblem


def test_the_check_asks_once_per_device_for_every_op_any_run_loads():
    cpu = make_sweep(zero_stage=[0, 1], offload_optimizer=["none", "cpu"]).scenarios
    assert needed_by_device(cpu) == {"cpu": (ops.SHM_COMM, ops.CPU_ADAM)}
    plain = make_sweep(zero_stage=[0, 3]).scenarios
    assert needed_by_device(plain) == {"cpu": (ops.SHM_COMM,)}
    # A GPU run's ops are built for its node's GPU: its task checks them there.
    assert needed_by_device(make_sweep(device="cuda").scenarios) == {}


def test_a_python_that_cannot_answer_is_an_environment_problem_naming_the_way_out():
    python = shutil.which("python3", path="/usr/bin")  # the system's: no memsweep, no DeepSpeed
    assert python is not None
    with pytest.raises(EnvironmentProblem, match="could not check DeepSpeed's cpu ops") as e:
        missing(python, "cpu", (ops.SHM_COMM,))
    assert "--no-ops-check" in str(e.value) and e.value.exit_code == 3
