"""Validation of every name that may reach a shell, a path or an #SBATCH line."""

from __future__ import annotations

import re

from suite.errors import UserInputError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_name(value: object, *, what: str, source: str | None = None) -> str:
    """Return `value` if it is a safe name: letters, digits, '._-', 1-64 chars, no leading dot."""
    if not isinstance(value, str) or not _NAME.fullmatch(value) or ".." in value:
        raise UserInputError(
            f"{what} {value!r} is not a valid name",
            source=source,
            key=what,
            fix="use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return value
