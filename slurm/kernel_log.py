"""The kernel's own record of its OOM kills since a launch started, read from /dev/kmsg.

A rank killed by SIGKILL is `oom` only when the kernel says it killed that very pid for
memory; a machine-wide count of OOM kills would blame a run for anyone's. /dev/kmsg is
readable by root or where kernel.dmesg_restrict is 0; elsewhere `KernelLog.problem` says why
it cannot tell, and the run is `failed` with the signal.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

KMSG = Path("/dev/kmsg")
RECORD_BYTES = 8192  # one read() of /dev/kmsg returns one record, at most this long
# "Out of memory: Killed process 1234 (python) ..." (also "Memory cgroup out of memory: ...")
# and "oom-kill:constraint=...,task=python,pid=1234,uid=0" (kernels >= 4.19).
_KILLED = re.compile(r"Killed process (\d+) \(")
_OOM_KILL = re.compile(r"oom-kill:.*\bpid=(\d+)")


def oom_killed_pid(message: str) -> int | None:
    """The pid a kernel message says the OOM killer killed, if it says so."""
    found = _KILLED.search(message) or _OOM_KILL.search(message)
    return int(found.group(1)) if found else None


class KernelLog:
    """Opened when a launch starts: then `oom_kills()` is what the kernel logged since."""

    def __init__(self, path: Path = KMSG) -> None:
        self.path = path
        self.problem: str | None = None
        self._fd: int | None = None
        self._seen: dict[int, str] = {}
        try:
            self._fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            os.lseek(self._fd, 0, os.SEEK_END)  # only what comes after the launch started
        except OSError as e:
            self.close()
            self.problem = f"{path} is not readable here ({e.strerror or e})"

    def oom_kills(self) -> dict[int, str]:
        """pid -> the kernel's line about killing it for memory, since this log was opened."""
        while self._fd is not None:
            try:
                data = os.read(self._fd, RECORD_BYTES)
            except BlockingIOError:
                break  # nothing more logged yet
            except OSError as e:
                if e.errno == errno.EPIPE:  # records overwritten before we read them: go on
                    continue
                self.problem = f"{self.path} stopped being readable ({e.strerror or e})"
                break
            if not data:
                break
            message = data.decode("utf-8", "replace").partition(";")[2].split("\n", 1)[0]
            if (pid := oom_killed_pid(message)) is not None:
                if _KILLED.search(message) or pid not in self._seen:  # its size, if logged
                    self._seen[pid] = message.strip()
        return dict(self._seen)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> KernelLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
