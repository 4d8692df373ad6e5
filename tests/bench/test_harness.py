"""`memsweep bench-harness`: a bare DeepSpeed loop against the worker, A/B interleaved."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.harness import Launch, summarize
from memsweep.cli import main

SHM = Path("/dev/shm")


def test_the_summary_takes_medians_per_side_and_the_ratio_of_the_medians():
    launches = [Launch(kind="bare", wall_s=12.0, step_s=0.10, steps_s=2.0),
                Launch(kind="memsweep", wall_s=14.0, step_s=0.11, steps_s=2.0),
                Launch(kind="bare", wall_s=11.0, step_s=0.30, steps_s=2.0),  # a noisy one
                Launch(kind="memsweep", wall_s=13.0, step_s=0.10, steps_s=2.0),
                Launch(kind="bare", wall_s=10.0, step_s=0.10, steps_s=2.0),
                Launch(kind="memsweep", wall_s=13.5, step_s=0.10, steps_s=2.0)]
    s = summarize(launches)
    assert s["bare"] == {"step_s": 0.10, "startup_s": 9.0, "reps": 3}
    assert s["memsweep"]["startup_s"] == 11.5 and s["ratio"] == pytest.approx(1.0)
    assert s["paired_ratio"] == pytest.approx(1.0)  # 0.91, 3.0, 1.0


def test_bad_arguments_exit_2(capsys):
    assert main(["bench-harness", "--reps", "0"]) == 2
    assert "--reps" in capsys.readouterr().err


@pytest.mark.slow
def test_bench_harness_runs_both_sides_and_prints_the_ratio(tmp_path, capsys):
    before = set(SHM.glob(f"deepspeed_allreduce_buffer_{os.getuid()}_*"))
    assert main(["bench-harness", "--steps", "3", "--warmup", "1", "--reps", "1",
                 "--out", str(tmp_path)]) == 0
    # neither side leaves DeepSpeed's 66 MiB shared-memory buffers behind (jobs/dist.py)
    assert set(SHM.glob(f"deepspeed_allreduce_buffer_{os.getuid()}_*")) <= before
    out = capsys.readouterr().out
    assert "rep 1 bare" in out and "rep 1 memsweep" in out
    assert "throughput ratio memsweep / bare:" in out and "start-up" in out
    assert (tmp_path / "runs").is_dir()  # the worker's record
