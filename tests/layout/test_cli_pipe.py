"""A listing piped into `head` ends quietly: the reader leaving is not an error of memsweep's."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_listing_into_a_closed_pipe_prints_no_traceback():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # `head -1` closes the pipe after the first line, while `models` still has rows to write.
    p = subprocess.run(f"{sys.executable} -m memsweep models | head -1", shell=True, cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.stdout.startswith("name"), p.stdout
    assert "Traceback" not in p.stderr and "BrokenPipe" not in p.stderr, p.stderr
