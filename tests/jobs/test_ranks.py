"""Rank discovery from launcher environments (pure: env dicts and a stand-in communicator)."""

from __future__ import annotations

import pytest

from jobs.nodelist import parse_nodelist
from jobs.ranks import SLURM_PORTS, Ranks, discover, slurm_port


class FakeComm:
    """What discover asks of mpi4py's COMM_WORLD."""

    def __init__(self, rank: int, size: int) -> None:
        self.rank, self.size = rank, size

    def Get_rank(self) -> int:  # noqa: N802 - mpi4py's names
        return self.rank

    def Get_size(self) -> int:  # noqa: N802
        return self.size


HYDRA = {"PMI_RANK": "1", "PMI_SIZE": "2", "PMI_FD": "9", "MPI_LOCALRANKID": "1",
         "MPI_LOCALNRANKS": "2"}
SLURM = {"SLURM_PROCID": "3", "SLURM_NTASKS": "4", "SLURM_LOCALID": "1", "SLURM_NNODES": "2",
         "SLURM_JOB_ID": "4242", "SLURM_STEP_ID": "0", "SLURM_JOB_NODELIST": "gpu[07-08]"}
TORCHRUN = {"RANK": "5", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "4",
            "MASTER_ADDR": "node1", "MASTER_PORT": "29500", "TORCHELASTIC_RUN_ID": "x"}


def test_no_launcher_is_one_rank():
    r = discover({})
    assert (r.source, r.rank, r.world_size, r.local_rank) == ("single", 0, 1, 0)
    assert r.master_port is None  # picked free at init, never a fixed one


def test_mpiexec_gives_mpi_ranks_and_leaves_the_rendezvous_to_mpi():
    r = discover(HYDRA, FakeComm(1, 2))
    assert (r.source, r.rank, r.world_size, r.local_rank, r.local_size) == ("mpi", 1, 2, 1, 2)
    assert r.master_addr is None and r.master_port is None


def test_mpiexec_with_one_rank_is_still_mpi():
    r = discover({"PMI_RANK": "0", "PMI_SIZE": "1", "MPI_LOCALRANKID": "0"}, FakeComm(0, 1))
    assert (r.source, r.world_size) == ("mpi", 1)


def test_a_communicator_of_one_without_mpi_env_is_not_mpi():
    # mpi4py imported in a plain process (singleton MPI): the Slurm variables decide.
    assert discover(SLURM, FakeComm(0, 1)).source == "slurm"


def test_srun_with_pmix_is_mpi_before_slurm():
    env = {**SLURM, "PMIX_RANK": "3", "SLURM_LOCALID": "1"}
    r = discover(env, FakeComm(3, 4))
    assert (r.source, r.rank, r.world_size, r.local_rank) == ("mpi", 3, 4, 1)


def test_an_mpi4py_of_another_mpi_than_the_launcher_is_named():
    with pytest.raises(RuntimeError, match="mpi4py is built against another MPI"):
        discover({**HYDRA, "PMI_SIZE": "4"}, FakeComm(0, 1))


def test_slurm_without_mpi():
    r = discover(SLURM)
    assert (r.source, r.rank, r.world_size, r.local_rank) == ("slurm", 3, 4, 1)
    assert r.master_addr == "gpu07"  # the first node of the list
    assert r.local_size is None  # two nodes: Slurm's variables do not say how many per node


def test_slurm_step_nodelist_wins_over_the_job_one():
    r = discover({**SLURM, "SLURM_STEP_NODELIST": "cn[100-101]", "SLURM_NNODES": "1"})
    assert r.master_addr == "cn100"
    assert r.local_size == 4


def test_slurm_uses_the_given_nodelist_expander():
    r = discover(SLURM, expand_nodelist=lambda nodes: [f"expanded-{nodes}"])
    assert r.master_addr == "expanded-gpu[07-08]"


def test_slurm_port_is_derived_per_job_and_step_in_range():
    first, count = SLURM_PORTS
    ports = {slurm_port({"SLURM_JOB_ID": str(j), "SLURM_STEP_ID": str(s)})
             for j in range(4000, 4050) for s in range(3)}
    assert all(first <= p < first + count for p in ports)
    assert len(ports) > 140  # 150 job.steps; a collision or two is allowed, a constant is not
    assert slurm_port(SLURM) == slurm_port(dict(SLURM))  # every task derives the same


def test_slurm_without_nodelist_is_an_error():
    env = {k: v for k, v in SLURM.items() if k != "SLURM_JOB_NODELIST"}
    with pytest.raises(RuntimeError, match="SLURM_JOB_NODELIST"):
        discover(env)


def test_torchrun():
    r = discover(TORCHRUN)
    assert (r.source, r.rank, r.world_size, r.local_rank, r.local_size) == ("torchrun", 5, 8, 1, 4)
    assert (r.master_addr, r.master_port) == ("node1", 29500)


def test_torchrun_inside_a_slurm_step_is_torchrun():
    # SLURM_PROCID is the node's index there, not the rank.
    assert discover({**SLURM, **TORCHRUN}).rank == 5


def test_rank_variables_set_by_hand():
    env = {k: v for k, v in TORCHRUN.items() if k != "TORCHELASTIC_RUN_ID"}
    assert discover(env).source == "env"
    with pytest.raises(RuntimeError, match="MASTER_ADDR"):
        discover({"RANK": "0", "WORLD_SIZE": "2"})


def test_an_impossible_rank_is_refused():
    with pytest.raises(ValueError, match="rank 2,.* world size 2"):
        Ranks(source="env", rank=2, world_size=2, local_rank=0, local_size=None,
              master_addr="h", master_port=1)


@pytest.mark.parametrize(("nodelist", "hosts"), [
    ("node1", ["node1"]),
    ("node[1-3]", ["node1", "node2", "node3"]),
    ("gpu[08-10]", ["gpu08", "gpu09", "gpu10"]),
    ("a[1,3-4],login2", ["a1", "a3", "a4", "login2"]),
    ("rack[1-2]-n[1-2]", ["rack1-n1", "rack1-n2", "rack2-n1", "rack2-n2"]),
    ("cn[001]-ib", ["cn001-ib"]),
])
def test_parse_nodelist(nodelist, hosts):
    assert parse_nodelist(nodelist) == hosts


@pytest.mark.parametrize("bad", ["", "node[a-b]", "node[1-x]"])
def test_parse_nodelist_refuses_what_it_cannot_read(bad):
    with pytest.raises(ValueError):
        parse_nodelist(bad)
