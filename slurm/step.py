"""The job step that starts one scenario's ranks inside its array task (pure).

    srun --ntasks=W --nodes=N --cpus-per-task=C --mpi=pmi2 --kill-on-bad-exit=1 \\
        PYTHON -m jobs.worker --plan PLAN --run-id ID --out DIR --attempt A

`mpi` names srun's MPI plugin (slurm/mpi_plugin.py): pmi2 for an MPICH-family mpi4py (the
PyPI `mpich` wheel), pmix for Open MPI, none for no MPI at all (the worker then takes its rank from
SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID and meets rank 0 on the step's first node).
`mpiexec` starts the ranks with mpiexec inside the allocation instead of srun.
`library` is that MPI library's version string: under pmi2 an MPICH built with both UCX and
OFI is told to use OFI (why: slurm/mpi_plugin.py, `step_env`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from slurm.launch import WORKER, Launch, rank_env
from slurm.mpi_plugin import step_env
from suite.names import check_name

MPIEXEC = "mpiexec"


def step_nodes(*, world_size: int, job_nodes: int, job_ntasks: int) -> int:
    """Nodes for a step of `world_size` ranks, the job's tasks being spread evenly on its nodes."""
    per_node = math.ceil(job_ntasks / job_nodes)
    return min(job_nodes, math.ceil(world_size / per_node))


def build_step(*, mpi: str, world_size: int, job_nodes: int, job_ntasks: int,
               cpus_per_task: int, python: str, plan: Path, run_id: str, out: Path,
               attempt: int, device: str, environ: Mapping[str, str],
               library: str | None = None, srun: str = "srun", mpiexec: str = MPIEXEC,
               worker: Sequence[str] = WORKER) -> Launch:
    check_name(run_id, what="run_id")
    check_name(mpi, what="mpi")
    if min(world_size, job_nodes, job_ntasks, cpus_per_task, attempt) < 1:
        raise ValueError("world size, nodes, tasks, cpus and attempt must be 1 or more")
    if world_size > job_ntasks:
        raise ValueError(f"world_size {world_size} is more than the job's {job_ntasks} tasks")
    program = (python, *worker, "--plan", str(plan), "--run-id", run_id, "--out", str(out),
               "--attempt", str(attempt))
    if mpi == MPIEXEC:
        argv = (mpiexec, "-n", str(world_size), *program)
    else:
        nodes = step_nodes(world_size=world_size, job_nodes=job_nodes, job_ntasks=job_ntasks)
        # --cpus-per-task again: Slurm 22.05's srun no longer reads SLURM_CPUS_PER_TASK.
        argv = (srun, f"--ntasks={world_size}", f"--nodes={nodes}",
                f"--cpus-per-task={cpus_per_task}", f"--mpi={mpi}", "--kill-on-bad-exit=1",
                *program)
    env = rank_env(device=device, ranks=world_size, cores=world_size * cpus_per_task,
                   environ=environ)
    return Launch(argv=argv, env=env | step_env(mpi=mpi, version=library, environ=environ))

