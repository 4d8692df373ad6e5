"""slurm/shm.py: which files in /dev/shm a finished launch left, on a real folder and real
mappings (the launches themselves: tests/reliability/test_dead_rank.py)."""

from __future__ import annotations

import mmap
import os
import threading
import time

from slurm import shm


def make(root, name: str, *, age_s: float = 0.0):
    path = root / name
    path.write_bytes(b"\0" * mmap.PAGESIZE)
    if age_s:
        t = time.time() - age_s
        os.utime(path, (t, t))
    return path


def test_only_unmapped_files_of_the_known_kinds_made_since_the_launch_are_leftovers(tmp_path):
    since = time.time() - 60
    dead_mpich = make(tmp_path, "mpich_shm_1a2b_0")
    dead_ds = make(tmp_path, "deepspeed_allreduce_buffer_0_127.0.0.1_4242_1")
    before = make(tmp_path, "mpich_shm_old_0", age_s=3600)  # not this launch's
    other = make(tmp_path, "someone_elses_segment")
    live = make(tmp_path, "mpich_shm_live_0")
    with open(live, "r+b") as f, mmap.mmap(f.fileno(), 0):  # a running rank maps it
        assert shm.leftovers(since, root=tmp_path) == sorted([dead_mpich, dead_ds])
        assert shm.remove_leftovers(since, root=tmp_path) == sorted([dead_mpich, dead_ds])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [before.name, other.name, live.name])
    assert shm.leftovers(since, root=tmp_path) == [live]  # unmapped now: garbage too


def test_a_missing_folder_has_no_leftovers(tmp_path):
    assert shm.leftovers(0.0, root=tmp_path / "no-shm-here") == []


def test_the_removal_is_noted_at_the_end_of_the_runs_log(tmp_path):
    (tmp_path / "shm").mkdir()
    make(tmp_path / "shm", "mpich_shm_dead_0")
    log = tmp_path / "run.log"
    log.write_text("the ranks' output\n")
    shm.clean_after(log, since=time.time(), root=tmp_path / "shm")
    assert log.read_text().splitlines() == [
        "the ranks' output",
        f"# memsweep: removed 1 shared-memory file(s) its killed ranks left in {tmp_path}/shm: "
        f"mpich_shm_dead_0"]
    assert not any((tmp_path / "shm").iterdir())


def test_a_file_mapped_between_the_two_looks_is_another_runs_and_stays(tmp_path):
    # Another run's rank has created its buffer but not mapped it yet when this launch's
    # cleanup looks: one look would take it (and that run would hang); the second look
    # sees it mapped.
    since = time.time() - 60
    starting = make(tmp_path, "deepspeed_allreduce_buffer_0_127.0.0.1_5151_0")
    dead = make(tmp_path, "mpich_shm_dead_0")
    mapped = threading.Event()

    def rank_maps_its_buffer():
        with open(starting, "r+b") as f, mmap.mmap(f.fileno(), 0):
            mapped.set()
            time.sleep(2.0)

    rank = threading.Thread(target=rank_maps_its_buffer)
    timer = threading.Timer(0.3, rank.start)
    timer.start()
    try:
        assert shm.remove_leftovers(since, root=tmp_path, settle_s=1.0) == [dead]
        assert mapped.is_set()
    finally:
        timer.join()
        rank.join()
    assert starting.exists() and not dead.exists()
