"""The nodes a job ran on, as sinfo reports them, and whether one of them failed (pure).

A run that ends badly while a node of its job is down, failing or not responding ended
because of that node: its record is `node_fail`, naming the node and Slurm's reason, and
`memsweep submit --resume` reruns it once the node is back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# A node's complete state is its base state and its flags ("down+drain",
# "allocated+not_responding"). These say it cannot run a job's processes: it is down, failing,
# powered off, or its slurmd does not answer slurmctld (killed, or the node is gone).
FAILED = frozenset({"down", "fail", "failing", "not_responding", "power_down", "powered_down",
                    "powering_down"})


@dataclass(frozen=True, kw_only=True)
class NodeRow:
    """One node of `sinfo --Node --Format=NodeList:|,StateComplete:|,Reason:|`."""

    name: str
    state: str  # e.g. "idle", "allocated+not_responding", "down", "idle+drain"
    reason: str  # why it is down or drained ("none" when it is neither)

    def __post_init__(self) -> None:
        if not self.name or not self.state:
            raise ValueError(f"a node needs a name and a state, got {self.name!r} {self.state!r}")

    @property
    def failed(self) -> bool:
        return not FAILED.isdisjoint(self.state.lower().split("+"))

    def describe(self) -> str:
        """As a reason says it: node n2 is down+not_responding (Slurm: Not responding)."""
        why = "" if self.reason.lower() in ("", "none", "(null)") else f" (Slurm: {self.reason})"
        return f"node {self.name} is {self.state}{why}"


def parse_sinfo(text: str) -> list[NodeRow]:
    """sinfo's lines, one per node (a node in several partitions is listed once)."""
    rows: dict[str, NodeRow] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.rstrip("|").split("|", 2)
        if len(parts) != 3:
            raise ValueError(f"unexpected sinfo line {line!r}")
        name, state, reason = (p.strip() for p in parts)
        rows.setdefault(name, NodeRow(name=name, state=state, reason=reason))
    return list(rows.values())


def node_failure(nodes: Sequence[NodeRow]) -> str | None:
    """What failed among a job's nodes, None when every node is well."""
    failed = [n.describe() for n in nodes if n.failed]
    return "; ".join(failed) or None
