"""Who this process is in the run: rank discovery from the launcher's environment.

`discover` is a pure function of an environment mapping (and an mpi4py communicator
when an MPI launcher started us), tried in this order:

    mpi       mpiexec / srun --mpi=pmi2|pmix: COMM_WORLD's rank and size
    torchrun  TORCHELASTIC_RUN_ID set: torchrun's RANK etc. (also inside a Slurm step,
              where SLURM_PROCID would be the node's index, not the rank)
    slurm     srun without MPI: SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID
    env       RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT set by hand
    single    none of these: one rank

The rendezvous port is never fixed, so several runs can share a machine: under MPI
rank 0 picks a free one and broadcasts it (`mpi_rendezvous`), under Slurm it is
derived from the job and step ids, torchrun's is taken as given.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from jobs.nodelist import parse_nodelist

# Set by MPICH/Intel MPI (hydra), srun --mpi=pmi2|pmix, Open MPI, MVAPICH and Cray PALS.
MPI_ENV = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE",
           "PALS_RANKID")
SLURM_PORTS = (20000, 10000)  # first port, count: below Linux's ephemeral range (32768+)


@dataclass(frozen=True, kw_only=True)
class Ranks:
    source: str  # mpi, torchrun, slurm, env or single
    rank: int
    world_size: int
    local_rank: int
    local_size: int | None  # ranks on this node, when the launcher says
    master_addr: str | None  # None under MPI: mpi_rendezvous finds it
    master_port: int | None  # None: rank 0 picks a free port

    def __post_init__(self) -> None:
        if not 0 <= self.rank < self.world_size or self.local_rank < 0:
            raise ValueError(f"{self.source} launcher gave rank {self.rank}, local rank "
                             f"{self.local_rank} of world size {self.world_size}; check how the "
                             f"worker was started")


def launched_by_mpi(env: Mapping[str, str]) -> bool:
    return any(k in env for k in MPI_ENV)


def discover(env: Mapping[str, str], comm=None, *,
             expand_nodelist: Callable[[str], list[str]] = parse_nodelist) -> Ranks:
    if comm is not None and (comm.Get_size() > 1 or launched_by_mpi(env)):
        return _from_mpi(env, comm)
    if "TORCHELASTIC_RUN_ID" in env:
        return _from_env(env, "torchrun")
    if "SLURM_PROCID" in env:
        return _from_slurm(env, expand_nodelist)
    if "RANK" in env and "WORLD_SIZE" in env:
        return _from_env(env, "env")
    return Ranks(source="single", rank=0, world_size=1, local_rank=0, local_size=1,
                 master_addr="127.0.0.1", master_port=None)


def _from_mpi(env: Mapping[str, str], comm) -> Ranks:
    size = comm.Get_size()
    claimed = _int(env, "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
    if claimed is not None and claimed != size:
        raise RuntimeError(f"the launcher started {claimed} ranks but mpi4py's MPI sees {size}: "
                           f"mpi4py is built against another MPI than the one whose mpiexec "
                           f"was used (run the mpiexec of mpi4py's MPI)")
    local = _int(env, "MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID",
                 "PALS_LOCAL_RANKID")
    local_size = _int(env, "MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE")
    if local is None:  # an MPI whose launcher does not say: ask MPI which ranks share the node
        from mpi4py import MPI  # late: importing mpi4py starts MPI

        node = comm.Split_type(MPI.COMM_TYPE_SHARED)
        local, local_size = node.Get_rank(), node.Get_size()
        node.Free()
    return Ranks(source="mpi", rank=comm.Get_rank(), world_size=size, local_rank=local,
                 local_size=local_size, master_addr=None, master_port=None)


def _from_slurm(env: Mapping[str, str], expand_nodelist) -> Ranks:
    nodelist = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST")
    if not nodelist:
        raise RuntimeError("SLURM_PROCID is set but no SLURM_JOB_NODELIST: start the worker "
                           "with srun inside an allocation")
    world = _int(env, "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS", "SLURM_NPROCS") or 1
    one_node = (_int(env, "SLURM_STEP_NUM_NODES", "SLURM_NNODES") or 0) == 1
    return Ranks(source="slurm", rank=int(env["SLURM_PROCID"]), world_size=world,
                 local_rank=_int(env, "SLURM_LOCALID") or 0,
                 local_size=world if one_node else None,
                 master_addr=expand_nodelist(nodelist)[0], master_port=slurm_port(env))


def _from_env(env: Mapping[str, str], source: str) -> Ranks:
    missing = [k for k in ("MASTER_ADDR", "MASTER_PORT") if k not in env]
    if missing and int(env["WORLD_SIZE"]) > 1:
        raise RuntimeError(f"RANK and WORLD_SIZE are set but not {', '.join(missing)}")
    return Ranks(source=source, rank=int(env["RANK"]), world_size=int(env["WORLD_SIZE"]),
                 local_rank=_int(env, "LOCAL_RANK") or 0,
                 local_size=_int(env, "LOCAL_WORLD_SIZE"),
                 master_addr=env.get("MASTER_ADDR", "127.0.0.1"),
                 master_port=_int(env, "MASTER_PORT"))


def slurm_port(env: Mapping[str, str]) -> int:
    """A port every task of the step derives alike, different for each job and step."""
    key = f"{env.get('SLURM_JOB_ID', '0')}.{env.get('SLURM_STEP_ID', '0')}"
    first, count = SLURM_PORTS
    return first + int(hashlib.sha256(key.encode()).hexdigest(), 16) % count


def _int(env: Mapping[str, str], *keys: str) -> int | None:
    return next((int(env[k]) for k in keys if env.get(k, "").strip().isdigit()), None)
