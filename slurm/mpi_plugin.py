"""srun's MPI plugin (`srun --mpi=...`) for the MPI library that this installation's mpi4py
is built against: the array task and `memsweep submit` ask the same question."""

from __future__ import annotations

import subprocess
import sys


def mpi_for_library(version: str | None) -> str:
    """srun's MPI plugin for the MPI library mpi4py is built against (its version string)."""
    text = version or ""
    if "Open MPI" in text:
        return "pmix"
    if any(name in text for name in ("MPICH", "Intel(R) MPI", "MVAPICH")):
        return "pmi2"
    return "none"  # no mpi4py: ranks from Slurm's environment


def detect_mpi(python: str) -> str:
    """srun's MPI plugin for the MPI library `python`'s mpi4py is built against (without
    starting MPI); `none` without mpi4py."""
    code = ("import mpi4py; mpi4py.rc.initialize = False; from mpi4py import MPI; "
            "print(MPI.Get_library_version())")
    try:
        done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60,
                              check=True)
    except (OSError, subprocess.SubprocessError):
        print("memsweep: note: no mpi4py found; the ranks start with srun --mpi=none and take "
              "their rank from Slurm's environment (choose another with --mpi)", file=sys.stderr)
        return "none"
    return mpi_for_library(done.stdout)
