"""The hardware and software fingerprint of a run."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from jobs.fingerprint import fingerprint

REPO = Path(__file__).resolve().parents[2]


def test_every_value_is_a_string_or_none():
    fp = fingerprint(device="cpu", env={})
    assert all(isinstance(v, (str, type(None))) for v in fp.values())
    assert fp["hostname"] and fp["python"] and fp["torch"] and fp["deepspeed"]
    assert fp["gpu"] is None and fp["slurm_job_id"] is None and fp["partition"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", fp["date"])


def test_slurm_ids_come_from_the_environment():
    env = {"SLURM_JOB_ID": "77", "SLURM_ARRAY_JOB_ID": "70", "SLURM_ARRAY_TASK_ID": "7",
           "SLURM_STEP_ID": "0", "SLURM_JOB_PARTITION": "gpu-a100", "SLURM_JOB_NODELIST": "n[1-2]"}
    fp = fingerprint(device="cpu", env=env)
    assert (fp["slurm_job_id"], fp["slurm_array_job_id"], fp["slurm_array_task_id"],
            fp["slurm_step_id"], fp["partition"], fp["nodelist"]) == ("77", "70", "7", "0",
                                                                      "gpu-a100", "n[1-2]")


def test_git_commit_of_this_checkout():
    # The tests run from a git checkout of memsweep: its HEAD is the commit to record.
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True, timeout=30).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{40}", head)
    assert fingerprint(device="cpu", env={})["git_commit"] == head
