"""Helpers shared by the reliability tests (a uniquely named module, not conftest.py): real
memory cgroups, so that the kernel's OOM killer really kills something during a run."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

V1 = Path("/sys/fs/cgroup/memory")  # cgroup v1's memory controller (this CI machine)
V2 = Path("/sys/fs/cgroup")  # the unified hierarchy, where it holds the memory controller


def _root() -> tuple[Path, str, str]:
    """Where to make a memory cgroup, its limit file and the file counting its OOM kills."""
    if (V1 / "memory.limit_in_bytes").exists() and os.access(V1, os.W_OK):
        return V1, "memory.limit_in_bytes", "memory.oom_control"
    controllers = V2 / "cgroup.controllers"
    if controllers.exists() and "memory" in controllers.read_text().split() \
            and os.access(V2, os.W_OK):
        return V2, "memory.max", "memory.events"
    pytest.skip("no writable memory cgroup here (cgroup v1 memory or v2 with memory, as root)")


@contextlib.contextmanager
def memory_cgroup(name: str, limit_bytes: int) -> Iterator[Path]:
    """A memory cgroup of `limit_bytes` (swap included, where v1 counts it), removed after."""
    root, limit, _ = _root()
    group = root / f"{name}-{os.getpid()}"
    group.mkdir()
    try:
        (group / limit).write_text(str(limit_bytes))
        if (group / "memory.memsw.limit_in_bytes").exists():  # no swapping past the limit
            (group / "memory.memsw.limit_in_bytes").write_text(str(limit_bytes))
        if (group / "memory.swap.max").exists():
            (group / "memory.swap.max").write_text("0")
        yield group
    finally:
        for _ in range(100):  # its processes must be gone before it can be removed
            with contextlib.suppress(OSError):
                for pid in (group / "cgroup.procs").read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), 9)
                group.rmdir()
                break
            time.sleep(0.1)


def oom_kills(group: Path) -> int:
    """The OOM kills the kernel counted in `group` (v1 memory.oom_control, v2 memory.events)."""
    _, _, counter = _root()
    for line in (group / counter).read_text().splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill":
            return int(value)
    raise AssertionError(f"no oom_kill line in {group / counter} (Linux >= 4.13 has one)")


def in_cgroup(group: Path) -> list[str]:
    """A command prefix that runs the command inside `group` (children stay in it)."""
    return ["sh", "-c", f'echo $$ > {group / "cgroup.procs"} && exec "$@"', "sh"]


def vmstat_oom_kills() -> int:
    for line in Path("/proc/vmstat").read_text().splitlines():
        if line.startswith("oom_kill "):
            return int(line.split()[1])
    raise AssertionError("no oom_kill in /proc/vmstat")


def oom_kill_elsewhere() -> int:
    """Have the kernel's OOM killer kill a process that has nothing to do with any run (a
    child in a 64 MiB cgroup writing 512 MiB); its pid, once it is dead and counted."""
    with memory_cgroup("memsweep-test-unrelated", 64 * 2**20) as group:
        victim = subprocess.Popen([*in_cgroup(group), sys.executable, "-c",
                                   "x = b'1' * (512 * 2**20)"])
        assert victim.wait(timeout=60) == -9, "the kernel's OOM killer did not end it"
        assert oom_kills(group) >= 1
        return victim.pid
