"""Which job array each submitted scenario goes into: one array per node count.

A task asks Slurm for the nodes its own scenario needs (ceil(world size / tasks_per_node)),
not the largest world size of the sweep: with one node of two down, the one-node scenarios
still run on the other. A job array asks the same of every task, so the submitted runs are
split into one array per node count, each asking for its largest world size in ranks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from slurm.profile import Profile


@dataclass(frozen=True, kw_only=True)
class Shape:
    """One job array of a submission: plan positions `indices`, each task on `nodes` nodes
    with `ntasks` ranks' room (the largest world size among them)."""

    nodes: int
    ntasks: int
    indices: tuple[int, ...]

    def __post_init__(self) -> None:
        if type(self.nodes) is not int or self.nodes < 1 or \
                type(self.ntasks) is not int or self.ntasks < 1:
            raise ValueError(f"nodes and ntasks must be positive integers, got {self.nodes!r} "
                             f"and {self.ntasks!r}")
        if not self.indices or len(set(self.indices)) != len(self.indices):
            raise ValueError(f"indices must be distinct and at least one, got {self.indices!r}")

    @property
    def label(self) -> str:
        return f"{self.nodes} node{'s' if self.nodes > 1 else ''}"


def nodes_for(world_size: int, profile: Profile) -> int:
    """The nodes one run of `world_size` ranks takes: the profile's `nodes` when set, else
    ceil(world size / tasks_per_node), else one."""
    if profile.nodes:
        return profile.nodes
    return math.ceil(world_size / profile.tasks_per_node) if profile.tasks_per_node else 1


def split(world_sizes: Sequence[int], indices: Sequence[int], profile: Profile
          ) -> tuple[Shape, ...]:
    """The arrays for plan positions `indices` (world_sizes[i]: scenario i's), fewest nodes
    first: Slurm starts equal-priority jobs in submission order, so the runs that fit on
    fewer nodes are not queued behind the wide ones."""
    by_nodes: dict[int, list[int]] = {}
    for i in sorted(set(indices)):
        by_nodes.setdefault(nodes_for(world_sizes[i], profile), []).append(i)
    return tuple(Shape(nodes=n, ntasks=max(world_sizes[i] for i in idx), indices=tuple(idx))
                 for n, idx in sorted(by_nodes.items()))
