"""The one error hierarchy of memsweep and its documented exit codes.

Exit codes (also in the README):
    0  success
    1  the command ran but found a problem (a run failed, a regression)
    2  user input error: a sweep/profile file or an argument is wrong
    3  environment error: a tool, a folder or free space is missing
  130  interrupted (Ctrl-C)
  143  terminated (SIGTERM, e.g. scancel of the job running memsweep)
"""

from __future__ import annotations


class MemsweepError(Exception):
    """Base class; `exit_code` is what the CLI exits with."""

    exit_code = 1


class UserInputError(MemsweepError):
    """Something the user wrote is wrong; the message names where and the fix."""

    exit_code = 2

    def __init__(self, message: str, *, source: str | None = None, key: str | None = None,
                 fix: str | None = None) -> None:
        self.message, self.source, self.key, self.fix = message, source, key, fix
        where = ": ".join(p for p in (source, f"key '{key}'" if key else None) if p)
        text = f"{where}: {message}" if where else message
        if fix:
            text += f"\n  fix: {fix}"
        super().__init__(text)


class EnvironmentProblem(MemsweepError):
    """The machine lacks something memsweep needs (a tool, space, permissions)."""

    exit_code = 3
