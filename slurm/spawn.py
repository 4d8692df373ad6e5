"""Start one launch with its output in the run's log: the local executor's and a Slurm task's
one way of starting ranks (slurm/local.py, slurm/task.py).

The launch gets a session of its own, so a Ctrl-C at the terminal or a signal to the job
reaches only memsweep, which then stops the ranks in order. Where util-linux's `setpriv` is
present the launch is also tied to the process that starts it (the parent-death signal): if
memsweep itself is SIGKILLed, mpiexec or srun gets SIGTERM and ends its ranks instead of
leaving them running with nobody to record them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from slurm.launch import Launch
from slurm.outcome import Ending


@contextmanager
def run_log(log: Path, *, launch: Launch, attempt: int) -> Iterator[BinaryIO]:
    """The run's log, opened anew (the last attempt's log replaces the previous one) and
    headed by the attempt and the launch's command line."""
    with open(log, "wb") as f:
        f.write(f"# memsweep: attempt {attempt}, {datetime.now(timezone.utc).isoformat()}\n"
                f"# {launch.shell()}\n".encode())
        f.flush()
        yield f


def spawn(launch: Launch, *, log: BinaryIO) -> subprocess.Popen | Ending:
    """The started launch writing into `log`, or a `failed` Ending when it could not start."""
    try:
        return subprocess.Popen(tied(launch.argv), stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, env={**os.environ, **launch.env},
                                start_new_session=True)
    except OSError as e:
        return Ending(status="failed", reason=f"could not start {launch.argv[0]}: {e}")


def tied(argv: tuple[str, ...]) -> tuple[str, ...]:
    """`argv` under `setpriv --pdeathsig TERM` when setpriv is here (Linux) and argv[0] is
    found; else as it is.

    setpriv sets the signal and then execs argv, so nothing but argv runs; Python's own
    preexec_fn would do the same in a forked child, which is unsafe while threads run."""
    setpriv = shutil.which("setpriv")
    if not setpriv or not shutil.which(argv[0]):  # a missing program: Popen's own clear error
        return argv
    return (setpriv, "--pdeathsig", "TERM", "--", *argv)
