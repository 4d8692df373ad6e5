"""Data preprocessing: micro-batch, sequence length and gradient accumulation (workload axes).

Activations grow with micro_batch x seq_len; gradient accumulation reaches a
global batch with smaller micro-batches.
"""

from __future__ import annotations

from suite.models import model_spec
from suite.strategy_spec import Rule, Strategy

STRATEGY = Strategy(
    name="batching",
    description="micro-batch, sequence length and gradient accumulation: activation memory "
                "vs global batch",
    uses=("micro_batch", "seq_len", "grad_accum"),
    rules=(
        Rule(name="seq-len-fits-model",
             reason="seq_len is longer than the model's max_seq_len (its position table)",
             excludes=lambda v: v["seq_len"] > model_spec(v["model"]).max_seq_len),
        Rule(name="grad-accum-needs-training",
             reason="gradient accumulation needs a backward pass: inference has none",
             excludes=lambda v: v["grad_accum"] > 1 and v["kind"] == "inference"),
    ),
)
