"""Where and with what a run ran: host, CPU/GPU, software versions, Slurm ids, git commit.

Every value is a string or None (unknown here), so records from any machine load alike.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SLURM = {"slurm_job_id": "SLURM_JOB_ID", "slurm_array_job_id": "SLURM_ARRAY_JOB_ID",
         "slurm_array_task_id": "SLURM_ARRAY_TASK_ID", "slurm_step_id": "SLURM_STEP_ID",
         "partition": "SLURM_JOB_PARTITION", "nodelist": "SLURM_JOB_NODELIST"}


def fingerprint(*, device: str, env=os.environ) -> dict[str, str | None]:
    return {
        "hostname": socket.gethostname(),
        "cpu": cpu_model(),
        **_gpu_or_none(device),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "deepspeed": _version("deepspeed"),
        "mpi4py": _version("mpi4py"),
        "mpi_library": mpi_library(),
        **{key: env.get(var) for key, var in SLURM.items()},
        "git_commit": git_commit(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Model")):  # x86 / arm
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def gpu(device: str) -> dict[str, str | None]:
    if device != "cuda":
        return {"gpu": None, "gpu_driver": None, "cuda": None}
    import torch  # heavy: loaded late, in the rank only

    driver = None
    try:
        query = ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader",
                 "-i", str(torch.cuda.current_device())]
        driver = subprocess.run(query, capture_output=True, text=True, timeout=30,
                                check=True).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        pass  # no nvidia-smi in the container: the CUDA runtime version still says something
    return {"gpu": torch.cuda.get_device_name(), "gpu_driver": driver,
            "cuda": torch.version.cuda}


def _gpu_or_none(device: str) -> dict[str, str | None]:
    try:
        return gpu(device)
    except Exception:  # a broken CUDA is what a failed record may be about
        return {"gpu": None, "gpu_driver": None, "cuda": None}


def mpi_library() -> str | None:
    """The MPI library's own version line, only if MPI is already up (importing starts it)."""
    if "mpi4py.MPI" not in sys.modules:
        return None
    return sys.modules["mpi4py.MPI"].Get_library_version().splitlines()[0].strip()


def git_commit() -> str | None:
    try:
        top, commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--show-toplevel",
                                      "HEAD"], capture_output=True, text=True, timeout=10,
                                     check=True).stdout.split()
    except (OSError, subprocess.SubprocessError, ValueError):
        return None  # no git here: the versions above still identify the code
    # An installed (non-editable) memsweep may sit inside some other repository's tree.
    return commit if Path(top).resolve() == REPO else None


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None
