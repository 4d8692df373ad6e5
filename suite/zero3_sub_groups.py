"""ZeRO-3's optimizer sub-groups: how DeepSpeed 0.19.8 cuts a rank's fp32 partition for the step.

ZeRO-3 does not step a rank's partition as one tensor: stage3.py `_create_fp16_sub_groups`
walks the parameters in module order and closes a sub-group as soon as its partitions reach
`sub_group_size` elements (DeepSpeed's default 1e9), never splitting a parameter. Each
sub-group is one flat fp32 tensor stepped on its own (`step` loops over them), so what the
step makes on the side (the flattened fp32 gradient, the optimizer's temporaries) is the size
of one sub-group, not of the partition. DeepSpeed's knob for the step's transient memory.
"""

from __future__ import annotations

import math

DEEPSPEED_DEFAULT = int(1e9)  # zero_optimization.sub_group_size


def partitions(sizes: list[int], n: int) -> list[int]:
    """A rank's partition of each parameter, in elements: ZeRO-3 partitions each parameter on
    its own, padded to a multiple of N."""
    return [math.ceil(s / n) for s in sizes]


def sub_groups(sizes: list[int], n: int, sub_group_size: int) -> list[list[int]]:
    """Per sub-group, the partition elements (`partitions`) of the parameters it holds, in
    module order."""
    parts = partitions(sizes, n)
    if sub_group_size >= sum(parts):
        return [parts]
    groups: list[list[int]] = []
    for p in parts:
        if not groups or sum(groups[-1]) >= sub_group_size:
            groups.append([])
        groups[-1].append(p)
    return groups


def flat_copy_elements(group: list[int], width: int) -> int:
    """Elements of the fp32 gradient a sub-group's step flattens (stage3.py
    `_prepare_fp32_grad_for_sub_group`): a copy, except for one fp32 parameter, whose
    gradient torch's flatten returns as a view."""
    return 0 if len(group) == 1 and width == 4 else sum(group)
