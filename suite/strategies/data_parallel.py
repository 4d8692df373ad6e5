"""Data parallelism: N ranks, each a replica on its own micro-batch; DeepSpeed averages gradients.

Swept on the workload axis `world_size`; across nodes through Slurm (srun starts
the ranks, slurm/). ZeRO (zero.py) is what shards state across these ranks.
"""

from __future__ import annotations

from suite.strategy_spec import Strategy

STRATEGY = Strategy(
    name="data-parallel",
    description="world_size ranks train replicas on their own batches (multi-node through "
                "Slurm); gradients are averaged",
    uses=("world_size",),
)
