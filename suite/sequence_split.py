"""The torch side of sequence parallelism (suite/strategies/sequence_parallel.py): every
attention core behind DeepSpeed Ulysses' all-to-all. Imported only where torch runs."""

from __future__ import annotations

from torch import nn

from suite.decoder import AttentionCore


class UlyssesCore(nn.Module):
    """An AttentionCore fed through `DistributedAttention`: q, k, v arrive (batch, seq slice,
    heads, head_dim); the all-to-all hands the core (batch, seq, heads slice, head_dim) and
    its output back as a sequence slice."""

    def __init__(self, core: AttentionCore, group) -> None:
        super().__init__()
        # deepspeed: heavy, loaded late (DS_ACCELERATOR must be set first), in the rank only
        from deepspeed.sequence.layer import DistributedAttention

        # scatter the heads (dim 2), gather the sequence (dim 1); batch first
        self.attention = DistributedAttention(core, group, scatter_idx=2, gather_idx=1)

    def forward(self, q, k, v):
        return self.attention(q, k, v, 0)


def sequence_parallel(model: nn.Module, group, *, first_position: int) -> nn.Module:
    """`model` with each attention core behind the all-to-all over `group`, fed the sequence
    positions from `first_position` on."""
    owners = [m for m in model.modules() if isinstance(getattr(m, "core", None), AttentionCore)]
    if len(owners) != model.spec.n_layer:
        raise RuntimeError(f"sequence parallelism found {len(owners)} attention cores in "
                           f"{model.spec.n_layer} blocks: a transform replaced a block")
    for m in owners:
        m.core = UlyssesCore(m.core, group)
    model.first_position = first_position
    return model
