"""Hardware: the device (and, through the Slurm profile, the partition) as an axis.

`device` is a workload axis (suite/axes.py): cpu ranks over gloo, or cuda ranks
over NCCL; the partition (GPU type) is the Slurm profile's and is in every
record's fingerprint, so the nightly compares hardware across partitions. What
each device supports is this table; the other strategies' rules ask it
(`supports`), so a new device is one new row here.
"""

from __future__ import annotations

from suite.strategy_spec import Strategy

# feature -> devices that have it. fp16: DeepSpeed's CPU accelerator has no fp16 kernels.
# 8bit-optimizer: bitsandbytes (0.50 runs its 8-bit optimizers on the CPU too).
# allocator: PyTorch's CUDA caching allocator and its memory-history snapshots.
# pinned-memory: page-locked host memory matters only for copies to and from a GPU.
SUPPORTS: dict[str, frozenset[str]] = {
    "fp16": frozenset({"cuda"}),
    "bf16": frozenset({"cpu", "cuda"}),
    "8bit-optimizer": frozenset({"cpu", "cuda"}),
    "allocator": frozenset({"cuda"}),
    "pinned-memory": frozenset({"cuda"}),
}


def supports(device: object, feature: str) -> bool:
    return device in SUPPORTS[feature]


STRATEGY = Strategy(
    name="hardware",
    description="the device ranks compute on (cpu, cuda); the GPU type is the Slurm profile's "
                "partition, recorded in the fingerprint",
    uses=("device",),
)
