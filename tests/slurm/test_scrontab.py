"""The nightly template (slurm/nightly/memsweep.scrontab) on the single-node cluster: its
entry submits the sweep, whose records and report follow.

With `scrontab` here (and ScronParameters=enable, which up.sh sets) the entry is installed
for real and runs at the next full minute (scrontab's granularity), so the test takes one to
two minutes plus the sweep. Debian's slurm-client 22.05 does not ship `scrontab`; there the
entry runs as what scrontab would make of it: a batch job with its #SCRON options and its
command (sbatch OPTIONS --wrap COMMAND), which checks the template's paths, placeholders,
profile and partition, but not the cron timing.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from cluster_support import cancel_leftovers, memsweep, require_cluster, wait_for_text
from executor_support import REPO, records, to_toml

from suite.sweep import parse_sweep

pytestmark = pytest.mark.slurm

TEMPLATE = REPO / "slurm" / "nightly" / "memsweep.scrontab"


def scrontab(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([shutil.which("scrontab") or "scrontab", *args], input=stdin,
                          capture_output=True, text=True, timeout=60, check=False)


def as_batch_job(entry: str) -> list[str]:
    """The sbatch call scrontab's job for `entry` amounts to: the #SCRON options, the command."""
    options = [opt for line in entry.splitlines() if line.startswith("#SCRON ")
               for opt in line.split()[1:]]
    command = next(line for line in entry.splitlines() if line and not line.startswith("#"))
    return [shutil.which("sbatch") or "sbatch", *options,
            "--wrap", command.split(" ", 5)[5]]  # the five cron fields dropped


def cpu_local_entry(*, sweep: Path, nights: Path) -> str:
    """The template's cpu-local entry (its #SCRON lines and its command), paths made to point
    here, as its header says, and due every minute instead of nightly."""
    text = TEMPLATE.read_text()
    found = re.search(r"(#SCRON --job-name=memsweep-nightly-cpu-local[^\n]*\n(?:#SCRON[^\n]*\n)*)"
                      r"30 1 \* \* \* (/opt/memsweep/\.venv/bin/memsweep submit [^\n]*)", text)
    assert found, f"no cpu-local entry in {TEMPLATE}"
    directives, command = found.groups()
    # This checkout's code with this test's Python (no installed `memsweep` script needed).
    command = command.replace("/opt/memsweep/.venv/bin/memsweep",
                              f"cd {REPO} && {sys.executable} -m memsweep")
    command = command.replace("/opt/memsweep/suite/sweeps/smoke.toml", str(sweep))
    entry = (directives + "* * * * * " + command).replace("/opt/memsweep", str(REPO))
    return entry.replace("/scratch/memsweep-nightly", str(nights)) + "\n"


def test_the_nightly_entry_submits_its_sweep_and_the_records_follow(tmp_path):
    require_cluster()
    config = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True,
                            timeout=60, check=False).stdout
    assert re.search(r"ScronParameters\s*=\s*\S*enable", config), \
        "the cluster does not allow scrontab: run `sudo bash slurm/cluster/up.sh` again"
    real = shutil.which("scrontab") is not None
    if real:
        before = scrontab("-l")
        if before.returncode == 0 and any(
                line.strip() and not line.startswith("#") for line in before.stdout.splitlines()):
            pytest.fail(f"this user already has a scrontab; this test would replace it:\n"
                        f"{before.stdout}", pytrace=False)
    doc = {"sweep": {"name": "nightly-tiny", "warmup_steps": 1, "timed_steps": 2,
                     "timeout_s": 300},
           "axes": {"model": "tiny", "world_size": 2}}
    (tmp_path / "sweep.toml").write_text(to_toml(doc))
    nights = tmp_path / "nights"
    nights.mkdir()
    (tmp_path / "crontab").write_text(cpu_local_entry(sweep=tmp_path / "sweep.toml",
                                                      nights=nights))
    night = nights / "debug" / date.today().isoformat()  # {partition}/{date}
    t0 = time.monotonic()
    entry = (tmp_path / "crontab").read_text()
    try:
        if real:
            installed = scrontab(str(tmp_path / "crontab"))
            assert installed.returncode == 0, installed.stderr
        else:
            job = subprocess.run(as_batch_job(entry), capture_output=True, text=True,
                                 timeout=60, check=False)
            assert job.returncode == 0, job.stderr
        wait_for_text(night / "slurm.json", "report_job_id", 150)  # the next full minute
        submitted = time.monotonic() - t0
    finally:
        if real:
            scrontab("-r")  # once is enough: the entry would submit again every minute
    try:
        entry_out = next(nights.glob("scrontab-*.out"))
        assert "array job:" in entry_out.read_text()  # the entry's own output: memsweep submit
        watch = memsweep("status", str(night), "--watch", "--interval", "3", timeout_s=400)
    finally:
        cancel_leftovers(night)
    how = "scrontab" if real else "the entry as a batch job"
    print(f"{how}: submitted after {submitted:.0f} s, done after {time.monotonic() - t0:.0f} s")
    assert watch.returncode == 0, watch.stdout + watch.stderr
    [rec] = records(parse_sweep(doc), night)
    assert rec.status == "ok"
    subs = json.loads((night / "slurm.json").read_text())["submissions"]
    assert len(subs) == 1 and subs[0]["settings"]["profile"]["name"] == "cpu-local"
    assert (night / "report.pdf").read_bytes().startswith(b"%PDF")
