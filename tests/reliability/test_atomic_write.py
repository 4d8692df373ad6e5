"""Promise 3: records are written atomically. A writer SIGKILLed at any point never leaves a
half-written record that the loader takes as valid: it finds the previous whole version,
or none, and ignores the writer's temporary file.

A real process writes one run's record through results.store in a loop (4 MB records, so a
write takes a while) and gets SIGKILL at a random moment; the loader then reads the folder.
The control does the same with a writer that writes in place, and must leave broken files:
that shows the kills do land inside writes.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from results.load import iter_records, load_records

pytestmark = pytest.mark.slow

WRITER = Path(__file__).with_name("record_writer.py")
PAD = 4 * 2**20


def kill_at_random(root: Path, rng: random.Random, *naive: str) -> None:
    with subprocess.Popen([sys.executable, str(WRITER), str(root), str(PAD), *naive],
                          stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout.readline() == "ready\n"
            time.sleep(rng.uniform(0.0, 0.4))  # before its first write, or in its first few
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL


def temp_files(root: Path) -> int:
    return len(list((root / "runs").glob(".*.tmp")))  # write_json_atomic's, left by a kill


def test_sigkill_at_random_points_never_leaves_a_partial_record(tmp_path):
    rng, inside = random.Random(3), 0
    for _ in range(30):
        before = temp_files(tmp_path)
        kill_at_random(tmp_path, rng)
        inside += temp_files(tmp_path) > before  # this kill came in the middle of a write
        records, bad = load_records(tmp_path)
        assert bad == []  # nothing half-written is there to quarantine either
        assert [q for _, q in iter_records(tmp_path) if q] == []
        for record in records:  # one whole version, never a mix of two
            assert record.log_tail == chr(97 + record.attempt % 26) * PAD
            assert record.reason == f"version {record.attempt}"
    assert inside >= 5  # the points did fall inside writes (temp files left, and ignored)


def test_control_a_writer_in_place_leaves_broken_records_when_killed(tmp_path):
    rng, broken = random.Random(4), 0
    for _ in range(10):
        kill_at_random(tmp_path, rng, "--naive")
        broken += len(load_records(tmp_path)[1])  # quarantined, never read as valid
    assert broken > 0
