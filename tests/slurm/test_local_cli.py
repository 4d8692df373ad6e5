"""`memsweep run` as a user starts it: interrupted, or pointed at a read-only folder."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from executor_support import REPO, STAND_IN, leftovers, make_sweep, records, sweep_doc, to_toml

from results.store import log_path


@pytest.fixture
def shim(tmp_path) -> Path:
    """A folder to run the CLI from whose `jobs.worker` is the stand-in.

    The executor starts `python -m jobs.worker`, and `-m` looks in the working folder
    first; the shim's `jobs` package extends itself with the real one, so everything
    else the CLI imports from jobs (the fingerprint) is the real code.
    """
    jobs = tmp_path / "shim" / "jobs"
    jobs.mkdir(parents=True)
    (jobs / "__init__.py").write_text(f"__path__.append({str(REPO / 'jobs')!r})\n")
    shutil.copy(STAND_IN, jobs / "worker.py")
    return jobs.parent


def start_cli(args: list[str], *, cwd: Path, behaviour: str = "", prefix=()) -> subprocess.Popen:
    env = {**os.environ, "STAND_IN_BEHAVIOUR": behaviour}
    env.pop("MEMSWEEP_MPIEXEC", None)
    # A session of its own, as a shell gives a foreground job: Ctrl-C goes to its group.
    return subprocess.Popen([*prefix, sys.executable, "-m", "memsweep", "run", *args], cwd=cwd,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def wait_for(path: Path, text: str, timeout_s: float = 300) -> None:  # generous: a busy machine
    end = time.monotonic() + timeout_s
    while not (path.exists() and text in path.read_text(errors="replace")):
        assert time.monotonic() < end, f"{text!r} never appeared in {path}"
        time.sleep(0.1)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupt_cancels_the_current_run_and_stops_the_sweep(tmp_path, shim, sig, code):
    doc = sweep_doc(zero_stage=[0, 1])
    (tmp_path / "sweep.toml").write_text(to_toml(doc))
    sweep, out = make_sweep(zero_stage=[0, 1]), tmp_path / "out"
    proc = start_cli([str(tmp_path / "sweep.toml"), "--out", str(out)], cwd=shim,
                     behaviour="hang,ok")
    try:
        wait_for(log_path(out, sweep.scenarios[0].run_id), "rank 1 hanging")
        os.killpg(proc.pid, sig)  # what Ctrl-C at the terminal does
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == code, stderr
    cancelled, never_started = records(sweep, out)
    assert cancelled.status == "cancelled" and signal.Signals(sig).name in cancelled.reason
    assert "rank 1 hanging" in cancelled.log_tail
    assert never_started is None
    assert "interrupted: 1 runs not started" in stdout
    assert not leftovers(str(tmp_path))


@pytest.mark.parametrize("where", ["the folder", "its parent"])
def test_a_read_only_output_folder_is_refused_before_anything_runs(tmp_path, shim, where):
    (tmp_path / "sweep.toml").write_text(to_toml(sweep_doc()))
    locked = tmp_path / "locked"
    locked.mkdir()
    out = locked if where == "the folder" else locked / "out"
    prefix = ()
    if os.geteuid() == 0:  # root writes anywhere: drop the capability that lets it
        if not shutil.which("setpriv"):
            pytest.skip("running as root and no setpriv to drop CAP_DAC_OVERRIDE")
        prefix = ("setpriv", "--inh-caps=-dac_override", "--bounding-set=-dac_override")
    locked.chmod(0o555)
    try:
        proc = start_cli([str(tmp_path / "sweep.toml"), "--out", str(out)], cwd=shim,
                         prefix=prefix)
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        locked.chmod(0o755)
    assert proc.returncode == 3, stderr
    assert f"cannot write to the output folder {out}" in stderr and "--out" in stderr
    assert stdout == ""  # not even the sweep's first line: nothing started
    assert list(locked.iterdir()) == []
