"""Helpers shared by the reliability tests (a uniquely named module, not conftest.py)."""

from __future__ import annotations

from slurm.outcome import KERNEL_OOM


def killed_status(record) -> str:
    """`failed`; or `oom` when the machine's OOM-kill count rose meanwhile (another process on
    a shared machine): slurm/outcome.py reads a SIGKILL then as the kernel's, by design."""
    return "oom" if record.status == "oom" and KERNEL_OOM in record.reason else "failed"
