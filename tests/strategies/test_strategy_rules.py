"""The catalogue's rules: what each excludes, and what it lets through."""

from __future__ import annotations

import pytest

from suite.rules import violated_rule
from suite.scenario import Scenario


def rule(**values) -> str | None:
    found = violated_rule(Scenario.from_values(sweep="t", values=values).values)
    return found.name if found else None


@pytest.mark.parametrize("values, name", [
    ({"zero_stage": 0, "offload_optimizer": "cpu"}, "offload-needs-zero"),
    ({"zero_stage": 2, "offload_param": "cpu"}, "offload-param-needs-zero-3"),
    ({"zero_stage": 2, "offload_optimizer": "nvme", "nvme_path": "/d"}, "nvme-needs-zero-3"),
    ({"zero_stage": 3, "offload_param": "nvme"}, "nvme-needs-path"),
    ({"nvme_path": "/d"}, "nvme-path-needs-nvme"),
    ({"precision": "fp16"}, "fp16-needs-gpu"),
    ({"checkpoint_every": 3}, "checkpoint-every-fits-model"),  # tiny has 2 blocks
    ({"seq_len": 512}, "seq-len-fits-model"),
    ({"kind": "inference", "grad_accum": 2}, "grad-accum-needs-training"),
    ({"zero_stage": 0, "overlap_comm": "on"}, "overlap-comm-needs-zero"),
    ({"zero_stage": 2, "prefetch_bucket": 1000}, "prefetch-needs-zero-3"),
    ({"zero_stage": 2, "stage3_live": "block"}, "stage3-live-needs-zero-3"),
    ({"zero_stage": 3, "stage3_live": "block", "offload_param": "nvme", "nvme_path": "/d"},
     "stage3-live-or-nvme-param"),
    ({"zero_stage": 2, "pin_memory": "off"}, "pin-memory-needs-offload"),
    ({"zero_stage": 2, "offload_optimizer": "cpu", "pin_memory": "on"}, "pin-memory-needs-gpu"),
    ({"zero_stage": 3, "pruning": "unstructured-50"}, "unstructured-pruning-not-with-zero-3"),
    ({"quantize": "int8"}, "quantization-needs-kind-inference-or-distill"),
    ({"kind": "inference", "zero_stage": 1}, "zero-needs-kind-train-or-distill"),
    ({"kind": "inference", "optimizer": "sgd"}, "optimizer-needs-kind-train-or-distill"),
    ({"kind": "inference", "checkpoint_every": 1},
     "checkpointing-needs-kind-train-or-distill"),
    ({"kind": "distill"}, "distill-needs-teacher"),
    ({"teacher": "small"}, "distillation-needs-kind-distill"),
    ({"kind": "distill", "model": "small", "teacher": "tiny"}, "teacher-larger-than-student"),
    ({"kind": "distill", "teacher": "self"}, "teacher-larger-than-student"),
    ({"kind": "train", "compression": "pruned-int8"}, "compression-preset-kind"),
    ({"kind": "distill", "compression": "pruned-int8"}, "compression-preset-kind"),
    ({"kind": "inference", "compression": "pruned-int8", "quantize": "int4"},
     "compression-sets-its-axes"),
    ({"kind": "inference", "quantize": "int4", "pruning": "structured-30"},
     "int4-group-fits-layers"),
    ({"cuda_alloc_conf": "expandable_segments:True"}, "allocator-needs-cuda"),
])
def test_rule_excludes(values, name):
    assert rule(**values) == name


@pytest.mark.parametrize("values", [
    {},
    {"zero_stage": 3, "offload_optimizer": "nvme", "offload_param": "nvme", "nvme_path": "/d"},
    {"zero_stage": 3, "offload_optimizer": "cpu", "offload_param": "cpu", "pin_memory": "on",
     "device": "cuda"},
    {"precision": "fp16", "device": "cuda"},
    {"optimizer": "adamw8bit"},  # bitsandbytes 0.50 runs its 8-bit optimizers on the CPU
    {"optimizer": "adamw8bit", "device": "cuda", "zero_stage": 2},
    {"checkpoint_every": 2},
    {"zero_stage": 3, "prefetch_bucket": 1000, "overlap_comm": "off"},
    {"pruning": "structured-50", "zero_stage": 3},
    {"kind": "inference", "quantize": "int4", "precision": "bf16"},
    {"kind": "inference", "compression": "pruned-int4"},
    {"kind": "inference", "compression": "pruned-int8", "pruning": "structured-50"},  # agrees
    {"kind": "distill", "teacher": "small", "quantize": "int8", "zero_stage": 2},
    {"kind": "distill", "teacher": "self", "pruning": "structured-50"},
    {"kind": "distill", "compression": "distilled-pruned-int8-teacher"},
    {"cuda_alloc_conf": "max_split_size_mb:128,garbage_collection_threshold:0.8",
     "device": "cuda"},
])
def test_valid_combinations_pass(values):
    assert rule(**values) is None


@pytest.mark.parametrize("axis, value", [
    ("nvme_path", "relative/dir"), ("nvme_path", "/a/../b"), ("nvme_path", "/a b"),
    ("nvme_path", "/x;rm -rf /"), ("pruning", "structured"), ("pruning", "structured-100"),
    ("pruning", "magnitude-50"), ("cuda_alloc_conf", "expandable_segments:yes"),
    ("cuda_alloc_conf", "foo:1"), ("checkpoint_every", -1), ("deepspeed_base", "[1]"),
    ("optimizer", "lion"), ("teacher", "huge"),
])
def test_axis_values_are_validated(axis, value):
    from suite.axes import AXES

    assert AXES[axis].problem(value) is not None
