"""Which tensors a rank holds, per ledger category: the model's and DeepSpeed's optimizer's.

The attribute names are read from DeepSpeed 0.19.8's source (runtime/zero/stage_1_and_2.py,
runtime/zero/stage3.py, runtime/bf16_optimizer.py, runtime/fp16/*_optimizer.py). One table
serves every optimizer wrapper: an attribute a wrapper lacks is skipped, and the plain torch
optimizer DeepSpeed uses at stage 0 in fp32 has none of them.

Counted: where a value lives. Not counted: scratch and communication buffers, which
hold no value between steps and are sized by configuration, not by the model --
ZeRO's reduce buckets (`ipg_buckets`, reduce_bucket_size elements, 5e8 by default),
the offload staging buffers `temp_grad_buffer_for_{cpu,gpu}_offload` (largest
parameter) and `param_buffer_of_bit16_for_cpu_offload_groups` (the fp32->bit16 copy
on its way back to the device). The device and host peaks see them.
"""

from __future__ import annotations

import torch

ATTRIBUTES = {
    "params": (
        "bit16_groups_flat",  # ZeRO-1/2: the flat buffer model parameters are views of
        "fp16_partitioned_groups_flat",  # ZeRO-3: this rank's partitions (the params' ds_tensor)
        "bf16_groups_flat",  # BF16_Optimizer (bf16 without ZeRO)
        "fp16_groups_flat",  # FP16_Optimizer (fp16 without ZeRO)
    ),
    "master_params": (
        "single_partition_of_fp32_groups",  # ZeRO-1/2: fp32 copy of this rank's partition
        "fp32_partitioned_groups_flat",  # ZeRO-3
        "fp32_groups_flat_partition",  # BF16_Optimizer
        "fp32_groups_flat",  # fused FP16_Optimizer
        "fp32_groups",  # unfused FP16_Optimizer
    ),
    "grads": (
        "averaged_gradients",  # ZeRO-1/2: this rank's reduced partition, at the boundary
        "all_grad_tensors",  # ZeRO-1/2: partition gradients accumulated between boundaries
        "grads_in_partition",  # ZeRO-1/2 contiguous_gradients: the buffer the two above view
        "accumulated_grads_in_cpu",  # ZeRO-1/2 offload: host accumulators across micro-steps
        "grad_partitions_flat_buffer",  # ZeRO-3: this rank's gradient partitions
        "fp32_groups_gradients_flat",  # BF16_Optimizer: fp32 gradient accumulators
    ),
}


def held_tensors(model: torch.nn.Module, optimizer) -> dict[str, list[torch.Tensor]]:
    """{category: tensors} for `jobs.ledger.count`; `optimizer` is `engine.optimizer`."""
    held: dict[str, list[torch.Tensor]] = {c: [] for c in ("params", "master_params", "grads",
                                                            "optimizer_state")}
    for p in model.parameters():
        held["params"] += [p.data, getattr(p, "ds_tensor", None)]  # ZeRO-3: data is empty when
        held["grads"] += [p.grad, getattr(p, "grad_accum", None)]  # partitioned, ds_tensor is ours
    for category, names in ATTRIBUTES.items():
        for name in names:
            held[category] += _tensors(getattr(optimizer, name, None))
    # The master copy's .grad: fp32 gradients ZeRO's step (and offload, for the whole run) keeps.
    held["grads"] += [t.grad for t in held["master_params"] if t is not None]
    inner = optimizer if isinstance(optimizer, torch.optim.Optimizer) else \
        getattr(optimizer, "optimizer", None)  # the torch/DeepSpeed optimizer a wrapper steps
    if isinstance(inner, torch.optim.Optimizer):
        held["optimizer_state"] += _tensors(list(inner.state.values()))
    return {c: [t for t in ts if isinstance(t, torch.Tensor)] for c, ts in held.items()}


def _tensors(obj, depth: int = 0) -> list[torch.Tensor]:
    """Tensors inside nested lists, tuples and dicts (values), as DeepSpeed keeps its groups."""
    if isinstance(obj, torch.Tensor):
        return [obj]
    if depth > 4:
        return []
    if isinstance(obj, dict):
        obj = list(obj.values())
    if isinstance(obj, (list, tuple)):
        found = [t for item in obj for t in _tensors(item, depth + 1)]
        flat = getattr(obj, "flat_partition", None)  # ZeRO-1/2's GradPartitionBufferGroup
        return found + ([flat] if isinstance(flat, torch.Tensor) else [])
    return []
