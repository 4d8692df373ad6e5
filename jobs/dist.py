"""torch.distributed for one run: rendezvous, init through DeepSpeed, gathering, teardown.

DeepSpeed is imported only after `use_installation` has set DS_ACCELERATOR: it picks its
accelerator once, at import.
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from pathlib import Path

from jobs import ops
from jobs.ranks import Ranks


def mpi_comm():
    """COMM_WORLD (importing mpi4py initialises MPI, so only when an MPI launcher started us)."""
    from mpi4py import MPI  # late: importing mpi4py starts MPI

    return MPI.COMM_WORLD


def settle(comm) -> None:
    """Keep every rank in MPI until all have what was sent. MPICH's OFI network module
    (chosen under srun --mpi=pmi2, slurm/mpi_plugin.py) moves a message, the first to a peer
    above all, only while its sender is inside MPI: a root that left for torch's store right
    after its bcast left the other rank waiting for it for good."""
    comm.Barrier()


def free_port() -> int:
    # The kernel hands out an unused port; it stays free in the instant until torch's store binds.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def rendezvous(ranks: Ranks, comm) -> tuple[str, int]:
    """Where rank 0's store listens: its host and a port no other run on the machine uses."""
    if comm is not None and ranks.source == "mpi":
        here = socket.gethostname()
        host, port = comm.bcast((here, free_port()) if ranks.rank == 0 else None, root=0)
        settle(comm)
        return ("127.0.0.1" if host == here else host), port
    return ranks.master_addr or "127.0.0.1", ranks.master_port or free_port()


def use_installation(device: str) -> None:
    """DeepSpeed's accelerator and this installation's compiled ops (jobs/ops.py), whatever the
    caller's environment says: set before deepspeed's first import, see module doc."""
    os.environ["DS_ACCELERATOR"] = device
    os.environ[ops.ENV] = str(ops.extensions_dir())


def init(ranks: Ranks, *, device: str, addr: str, port: int, timeout_s: int) -> None:
    """Export the torchrun-style variables DeepSpeed reads and start the process group."""
    use_installation(device)
    os.environ.update(RANK=str(ranks.rank), WORLD_SIZE=str(ranks.world_size),
                      LOCAL_RANK=str(ranks.local_rank), MASTER_ADDR=addr, MASTER_PORT=str(port))
    if ranks.local_size:  # DeepSpeed's CPU shared-memory all-reduce needs to know who is local
        os.environ["LOCAL_SIZE"] = str(ranks.local_size)
    import deepspeed  # heavy: loaded late, after DS_ACCELERATOR is set
    import torch  # heavy: loaded late, after DS_ACCELERATOR is set

    if device == "cuda":
        torch.cuda.set_device(ranks.local_rank)
    deepspeed.init_distributed(dist_backend="nccl" if device == "cuda" else "gloo",
                               auto_mpi_discovery=False, timeout=timedelta(seconds=timeout_s),
                               verbose=False)
    if device == "cpu":
        _unlink_shm_buffer(ranks, addr=addr, port=port)


def shm_buffer_path(*, rank: int, addr: str, port: int) -> Path:
    """The file DeepSpeed's CPU shared-memory all-reduce maps for `rank` (ops/csrc/cpu/comm)."""
    return Path("/dev/shm") / f"deepspeed_allreduce_buffer_{os.getuid()}_{addr}_{port}_{rank}"


def _unlink_shm_buffer(ranks: Ranks, *, addr: str, port: int) -> None:
    # DeepSpeed never unlinks these (~66 MiB of RAM per rank per run, kept until reboot: a
    # nightly sweep would fill the machine). Once every rank has mapped its peers' buffers
    # (init returned everywhere: the barrier), unlinking is safe and survives a later SIGKILL.
    import torch.distributed as dist  # heavy: loaded late, in the rank only

    dist.barrier()
    shm_buffer_path(rank=ranks.rank, addr=addr, port=port).unlink(missing_ok=True)


def gather(obj, ranks: Ranks, comm) -> list | None:
    """Every rank's `obj` on rank 0 (None elsewhere): over MPI if we have it, else torch's."""
    if comm is not None and ranks.source == "mpi":
        gathered = comm.gather(obj, root=0)
        settle(comm)
        return gathered
    import torch.distributed as dist  # heavy: loaded late, in the rank only

    out = [None] * ranks.world_size if ranks.rank == 0 else None
    dist.gather_object(obj, out, dst=0)
    return out


def teardown() -> None:
    import torch.distributed as dist  # heavy: loaded late, in the rank only

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
