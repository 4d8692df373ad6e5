"""Writing a file so that a reader sees the old file or the whole new one, never a part."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary file beside `path` to write; once written it replaces `path` at once (a
    reader sees the old file or the new one), and is removed if the writing fails. Its name
    is its own: two writers of the same output (two reports of one folder) do not write into
    one temporary file; the last to finish wins whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = temporary_beside(path, f".{path.name}.")
    os.close(fd)  # the caller's writer (savefig, to_csv) opens it by name
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(path: Path, data: object) -> None:
    """Write so a reader sees the old file or the whole new one, never a part (even on SIGKILL)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temporary_beside(path, f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


def temporary_beside(path: Path, prefix: str) -> tuple[int, str]:
    """A new file `<prefix><random>.tmp` in `path`'s folder, open for writing: its descriptor
    and path. Made with mode 0666 less the umask, as `open` makes files (tempfile.mkstemp
    makes them 0600: records and caches that others of the group could not read)."""
    while True:
        tmp = os.path.join(path.parent, f"{prefix}{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:  # another writer's, by chance: another name
            continue
