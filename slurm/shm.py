"""Shared-memory files a run's killed ranks leave in /dev/shm, and their removal.

MPICH removes its `mpich_shm_*` segments (~2 MiB per node) when its ranks exit, and
jobs/dist.py unlinks DeepSpeed's all-reduce buffers (~66 MiB per rank) once every rank has
mapped them; a rank killed before that leaves them behind, in RAM until the next reboot. A
nightly sweep with out-of-memory kills would pile them up. After each launch the launcher
removes the files that are ours, were made since the launch started, and that no live
process maps: nobody can use those any more.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

SHM = Path("/dev/shm")
PREFIXES = ("mpich_shm_", "deepspeed_allreduce_buffer_")
CLOCK_SLACK_S = 1.0  # tmpfs stamps files with the kernel's coarse clock, a tick behind ours
SETTLE_S = 2.0  # between the two looks of remove_leftovers


def leftovers(since: float, *, root: Path = SHM) -> list[Path]:
    """Our files of PREFIXES in `root`, modified at or after `since` (epoch seconds) and mapped
    by no live process."""
    uid = os.getuid()
    found = []
    try:
        entries = list(os.scandir(root))
    except OSError:  # no /dev/shm (not Linux): nothing left there either
        return []
    for entry in entries:
        if not entry.name.startswith(PREFIXES):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if st.st_uid == uid and st.st_mtime >= since and entry.is_file(follow_symlinks=False):
            found.append(Path(entry.path))
    if not found:
        return []
    used = mapped_paths()
    return sorted(p for p in found if str(p) not in used)


def mapped_paths() -> set[str]:
    """The paths of the files that the processes we may look at have mapped (/proc/*/maps)."""
    used = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as f:
                for line in f:
                    fields = line.split(maxsplit=5)
                    if len(fields) == 6:
                        used.add(fields[5].rstrip("\n"))
        except OSError:  # gone meanwhile, or not ours to read (then it cannot map our 0600 files)
            continue
    return used


def remove_leftovers(since: float, *, root: Path = SHM, settle_s: float = SETTLE_S) -> list[Path]:
    """Remove what `leftovers` finds twice, `settle_s` apart; the files removed.

    A rank creates its file, then maps it: in between it is unmapped. Another run starting
    on the same node meanwhile (a second sweep, a test) would lose its file to a single
    look and hang in DeepSpeed's shared-memory set-up; a second look lets it map it."""
    first = leftovers(since, root=root)
    if not first:
        return []
    time.sleep(settle_s)
    again = set(leftovers(since, root=root))
    removed = []
    for path in (p for p in first if p in again):
        try:
            path.unlink()
            removed.append(path)
        except FileNotFoundError:
            pass
        except OSError:
            continue
    return removed


def clean_after(log: Path, *, since: float, root: Path = SHM) -> None:
    """After a launch: remove its leftovers and say so at the end of its log."""
    removed = remove_leftovers(since - CLOCK_SLACK_S, root=root)
    if not removed:
        return
    try:  # a note only: a log that cannot take it must not stop the sweep
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"# memsweep: removed {len(removed)} shared-memory file(s) its killed ranks "
                    f"left in {root}: {', '.join(p.name for p in removed)}\n")
    except OSError:
        pass
