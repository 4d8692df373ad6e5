"""srun's MPI plugin (`srun --mpi=...`) for the MPI library that this installation's mpi4py
is built against, and what that library's ranks need under it: the array task and
`memsweep submit` ask the same question."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping

NETMOD = "MPIR_CVAR_CH4_NETMOD"  # MPICH's choice among the network modules built in


def mpi_for_library(version: str | None) -> str:
    """srun's MPI plugin for the MPI library mpi4py is built against (its version string)."""
    text = version or ""
    if "Open MPI" in text:
        return "pmix"
    if any(name in text for name in ("MPICH", "Intel(R) MPI", "MVAPICH")):
        return "pmi2"
    return "none"  # no mpi4py: ranks from Slurm's environment


def library_version(python: str) -> str | None:
    """The version string of the MPI library `python`'s mpi4py is built against (without
    starting MPI); None without mpi4py."""
    code = ("import mpi4py; mpi4py.rc.initialize = False; from mpi4py import MPI; "
            "print(MPI.Get_library_version())")
    try:
        done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60,
                              check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout


def detect_mpi(python: str) -> str:
    """srun's MPI plugin for the MPI library `python`'s mpi4py is built against (without
    starting MPI); `none` without mpi4py."""
    version = library_version(python)
    if version is None:
        print("memsweep: note: no mpi4py found; the ranks start with srun --mpi=none and take "
              "their rank from Slurm's environment (choose another with --mpi)", file=sys.stderr)
        return "none"
    return mpi_for_library(version)


def netmods(version: str | None) -> set[str]:
    """The ch4 network modules an MPICH is built with ("MPICH Device: ch4:ucx ofi")."""
    for line in (version or "").splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "MPICH Device" and value.strip().startswith("ch4:"):
            return set(value.strip()[len("ch4:"):].replace(",", " ").split())
    return set()


def step_env(*, mpi: str, version: str | None, environ: Mapping[str, str]) -> dict[str, str]:
    """What the ranks of an `srun --mpi=MPI` step of the MPI library `version` need beyond
    the caller's environment (a value the caller set wins).

    MPICH under srun's pmi2 plugin speaks PMI-1 (the PyPI wheel's PMI-2 client is not built
    in) and puts its network business card in 511-byte segments, each hex-encoded on one line
    of up to ~1080 bytes. Slurm's pmi2 plugin reads a PMI-1 request with a single read() of
    at most 1024 bytes (22.05: "TODO: read until newline"), so a longer line reaches it in two
    pieces, and that rank's MPI_Init aborts (slurmd: "value not properly terminated in client
    request"). With UCX the card is 4,096 bytes read from UCX's worker address on
    (MPID_MAX_BC_SIZE): the address and whatever heap follows it (pointers, names, freed
    Python text), whose hex now and then goes over in a segment (5 ranks of ~620 on the test
    cluster); with OFI it is the address alone, one line of ~70 bytes."""
    if mpi != "pmi2" or NETMOD in environ or not {"ucx", "ofi"} <= netmods(version):
        return {}
    return {NETMOD: "ofi"}
