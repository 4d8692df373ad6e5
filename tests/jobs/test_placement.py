"""Where a run's ranks ran: each rank's node, the ranks per node, one host or several."""

from __future__ import annotations

from jobs.placement import node_name, placement


def ranks(*where: tuple[str | None, str]) -> list[dict]:
    return [{"rank": r, "node": node, "hostname": host} for r, (node, host) in enumerate(where)]


def test_two_nodes_on_one_host_say_so():
    found = placement(ranks(("n1", "vm"), ("n2", "vm")))
    assert found == {"rank_nodes": "n1,n2", "placement": "n1:0 n2:1", "nodes_share_host": "yes"}


def test_nodes_of_their_own_and_several_ranks_per_node():
    where = ranks(("gpu01", "gpu01"), ("gpu01", "gpu01"), ("gpu02", "gpu02"), ("gpu02", "gpu02"))
    found = placement(list(reversed(where)))  # gathered in any order: rank order counts
    assert found == {"rank_nodes": "gpu01,gpu01,gpu02,gpu02", "placement": "gpu01:0,1 gpu02:2,3",
                     "nodes_share_host": "no"}


def test_one_node_or_no_slurm():
    assert placement(ranks(("vm", "vm"), ("vm", "vm")))["nodes_share_host"] is None
    assert placement(ranks((None, "vm"), (None, "vm"))) == \
        {"rank_nodes": None, "placement": None, "nodes_share_host": None}
    assert placement([])["placement"] is None


def test_the_node_comes_from_slurmd():
    assert node_name({"SLURMD_NODENAME": "n2"}) == "n2"
    assert node_name({}) is None and node_name({"SLURMD_NODENAME": ""}) is None
