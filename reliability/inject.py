"""Faults from outside a run, for the fault campaign (reliability/campaign.py) and its tests.

memsweep's own runs never call this. It does what a crash, an operator or a full disk does
to a launch: real signals to the real processes under a `memsweep run` (found with psutil),
files written into its output folder, a small tmpfs as the output folder.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psutil

RANK_ENV = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK")  # MPICH/hydra, Open MPI


def ranks(launcher_pid: int, run_id: str) -> dict[int, psutil.Process]:
    """The ranks of `run_id` below the launcher, by their MPI rank."""
    found = {}
    try:
        family = psutil.Process(launcher_pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return {}
    for p in family:
        try:
            cmd, env = p.cmdline(), p.environ()
        except psutil.Error:
            continue
        rank = next((env[k] for k in RANK_ENV if k in env), None)
        if rank is not None and run_id in cmd and "--run-id" in cmd:
            found[int(rank)] = p
    return found


def wait_for(path: Path, text: str, *, launcher: subprocess.Popen | None = None,
             timeout_s: float = 120, poll_s: float = 0.02) -> bool:
    """Until `path` holds `text`; False if the launcher ended first or time ran out."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            if text in path.read_text(errors="replace"):
                return True
        except OSError:
            pass
        if launcher is not None and launcher.poll() is not None:
            return False
        time.sleep(poll_s)
    return False


def signal_rank(launcher_pid: int, run_id: str, rank: int, sig: int) -> int | None:
    """Send `sig` to rank `rank` of the run; its pid, or None if it is not (or no more) there."""
    p = ranks(launcher_pid, run_id).get(rank)
    if p is None:
        return None
    try:
        p.send_signal(sig)  # psutil checks the pid was not reused meanwhile
    except psutil.NoSuchProcess:
        return None
    return p.pid


def interrupt(launcher: subprocess.Popen, sig: int = signal.SIGINT) -> None:
    """What Ctrl-C at the terminal does: `sig` to the launcher's process group."""
    os.killpg(launcher.pid, sig)


# Damage a record file can take: bytes, and hand edits that keep it JSON.
EDITS = {
    "schema-2": lambda d: d.update(schema_version=2),
    "wrong-type": lambda d: d.update(attempt=str(d["attempt"])),
    "params-list": lambda d: d["scenario"].update(params=list(d["scenario"]["params"].items())),
    "hostname-list": lambda d: d["fingerprint"].update(hostname=["node01", "node02"]),
}
GARBAGE = ("empty", "nul", "random", "half", "not-json", "deep", *EDITS)


def corrupt(path: Path, rng: random.Random) -> str:
    """Replace a record file with one kind of damage; the kind's name."""
    kind = rng.choice(GARBAGE)
    good = path.read_bytes()
    if kind in EDITS:
        data = json.loads(good)
        EDITS[kind](data)
        damaged = json.dumps(data).encode()
    else:
        damaged = {"empty": b"", "nul": b"\x00" * rng.randint(1, 4096),
                   "random": rng.randbytes(rng.randint(1, 4096)), "half": good[: len(good) // 2],
                   "not-json": b"status: ok\n", "deep": b"[" * 100_000}[kind]
    path.write_bytes(damaged)
    return kind


def truncate(path: Path, rng: random.Random) -> int:
    """Cut a file at a random byte before its last two (a JSON object's closing brace and the
    newline), as a crash of a non-atomic writer would; the new size."""
    size = rng.randrange(0, max(1, path.stat().st_size - 1))
    with open(path, "r+b") as f:
        f.truncate(size)
    return size


def leftovers(marker: str, wait_s: float = 5.0) -> list[str]:
    """Live processes whose command line names `marker`, after up to `wait_s` for them to go."""
    end = time.monotonic() + wait_s
    while True:
        found = []
        for p in psutil.process_iter(["cmdline", "status"]):
            try:
                if p.info["status"] != psutil.STATUS_ZOMBIE and \
                        marker in " ".join(p.info["cmdline"] or ()):
                    found.append(f"{p.pid}: {' '.join(p.info['cmdline'])[:200]}")
            except psutil.Error:
                pass
        if not found or time.monotonic() > end:
            return found
        time.sleep(0.2)


def fill(folder: Path, name: str = "filler") -> Path:
    """Write a file into `folder` until its file system is full."""
    path = folder / name
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 2**20)
                f.flush()
        except OSError:
            pass
    return path


def read_only_prefix() -> tuple[str, ...] | None:
    """A command prefix under which a folder's mode binds this user (root's CAP_DAC_OVERRIDE
    dropped); () if not root; None where root cannot drop it (no setpriv)."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if not setpriv:
        return None
    return (setpriv, "--inh-caps=-dac_override", "--bounding-set=-dac_override")


class Tmpfs:
    """A tmpfs of `size` mounted on `folder` (root only): a real file system that fills up."""

    def __init__(self, folder: Path, size: str) -> None:
        self.folder, self.size = Path(folder), size

    def __enter__(self) -> Tmpfs:
        self.folder.mkdir(parents=True, exist_ok=True)
        _mount("-t", "tmpfs", "-o", f"size={self.size}", "tmpfs", str(self.folder))
        return self

    def resize(self, size: str, *, read_only: bool = False) -> None:
        _mount("-o", f"remount,size={size},{'ro' if read_only else 'rw'}", str(self.folder))

    def __exit__(self, *exc) -> None:
        subprocess.run(["umount", "-l", str(self.folder)], check=False, capture_output=True)


def can_mount(probe: Path) -> str | None:
    """None if this process can mount a tmpfs (tried on `probe`, an empty folder), else why."""
    if os.geteuid() != 0:
        return "needs root to mount a tmpfs"
    if not (shutil.which("mount") and shutil.which("umount")):
        return "no mount/umount here"
    try:
        with Tmpfs(probe, "1m"):
            pass
    except OSError as e:
        return f"cannot mount a tmpfs here ({e})"
    return None


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise OSError(f"mount {' '.join(args)}: {done.stderr.strip() or done.returncode}")
