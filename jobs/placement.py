"""Where a run's ranks ran: each rank's node, the ranks per node, and whether the nodes are one
machine (the two-node test cluster of slurm/cluster/up.sh --nodes 2 is two slurmd on one host).

Values go into the record's fingerprint: strings, or None where unknown (outside Slurm).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def node_name(env: Mapping[str, str]) -> str | None:
    """The Slurm node this process runs on (SLURMD_NODENAME, set by slurmd for every task);
    None outside a Slurm step. On a real cluster it is the host; on the test cluster it is not."""
    return env.get("SLURMD_NODENAME") or None


def placement(ranks: Sequence[Mapping[str, object]]) -> dict[str, str | None]:
    """From the ranks' metrics (rank, hostname, node): rank_nodes "n1,n2" (rank order),
    placement "n1:0 n2:1" (the ranks on each node, nodes in order of their first rank) and
    nodes_share_host "yes" where several nodes are one host, "no" where each is its own."""
    ordered = sorted(ranks, key=lambda r: int(r["rank"]))
    nodes = [r.get("node") for r in ordered]
    if not ordered or any(not n for n in nodes):
        return {"rank_nodes": None, "placement": None, "nodes_share_host": None}
    on: dict[str, list[str]] = {}
    for r in ordered:
        on.setdefault(str(r["node"]), []).append(str(r["rank"]))
    hosts = {str(r["hostname"]) for r in ordered}
    shared = None if len(on) == 1 else ("yes" if len(hosts) < len(on) else "no")
    return {"rank_nodes": ",".join(str(n) for n in nodes),
            "placement": " ".join(f"{n}:{','.join(rs)}" for n, rs in on.items()),
            "nodes_share_host": shared}
