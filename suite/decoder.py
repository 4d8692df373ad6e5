"""What the decoder families (suite/gpt.py, suite/llama.py) do alike: where a module is built,
the initialisation, the attention core, the pass through the blocks with activation
checkpointing, the loss. Imported only where torch runs."""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint


def built_on(device: str | None):
    """Build parameters on `device` ("meta": no memory, for counting); None: torch's default."""
    return torch.device(device) if device else contextlib.nullcontext()


def unit_seed() -> int:
    """The base of the units' seeds, drawn from torch's generator before anything is built."""
    return int(torch.randint(0, 2**62, ()).item())


def init_unit(unit: nn.Module, seed: int) -> nn.Module:
    """GPT-2's init of one unit (embedding, block, norm, head) from its own generator, seeded
    by the base and the unit's index: a pipeline stage that builds only its units
    (suite/pipeline_layers.py) gets the same weights as the whole module."""
    params = list(unit.parameters())
    if not params or params[0].is_meta:
        return unit
    gen = torch.Generator(device=params[0].device).manual_seed(seed)

    def init(module: nn.Module) -> None:
        # torch's default N(0, 1) embeddings make a tied head echo its input.
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02, generator=gen)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    # Through Module.apply, not a walk over modules(): inside ZeRO-3's zero.Init DeepSpeed
    # wraps apply to gather each module's partitioned parameters around the call; a plain walk
    # would write into the empty shards and leave ZeRO-3 with torch's default init.
    unit.apply(init)
    return unit


def init_units(units: list[nn.Module], base: int) -> None:
    for i, unit in enumerate(units):
        init_unit(unit, base + i)


def rotary(x: torch.Tensor, theta: float) -> torch.Tensor:
    """x (batch, heads, seq, head_dim) rotated by its positions (half-split pairing)."""
    S, D = x.shape[-2], x.shape[-1]
    inv = 1.0 / theta ** (torch.arange(0, D, 2, device=x.device, dtype=torch.float32) / D)
    angles = torch.outer(torch.arange(S, device=x.device, dtype=torch.float32), inv)
    cos, sin = (torch.cat((t, t), dim=-1).to(x.dtype) for t in (angles.cos(), angles.sin()))
    x1, x2 = x[..., : D // 2], x[..., D // 2:]
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


class AttentionCore(nn.Module):
    """Causal attention of q, k, v laid out (batch, seq, heads, head_dim), rotary positions
    first when `theta` is given. Its own module so that sequence parallelism can put an
    all-to-all around it (suite/sequence_split.py): it then sees the whole sequence and a
    slice of the heads, so positions count from the sequence's start either way."""

    def __init__(self, theta: float | None = None) -> None:
        super().__init__()
        self.theta = theta

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        if self.theta is not None:
            q, k = rotary(q, self.theta), rotary(k, self.theta)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           enable_gqa=k.shape[1] != q.shape[1])
        return a.transpose(1, 2)


def through_blocks(blocks: nn.ModuleList, x: torch.Tensor, *, checkpoint_every: int,
                   training: bool) -> torch.Tensor:
    """Every block in turn; in training every k-th is recomputed in backward instead of
    keeping its activations."""
    for i, block in enumerate(blocks):
        if training and checkpoint_every and i % checkpoint_every == 0:
            x = checkpoint(block, x, use_reentrant=False)
        else:
            x = block(x)
    return x


def lm_loss(logits: torch.Tensor, targets: torch.Tensor | None):
    """The logits, or with targets the next-token cross-entropy (in fp32)."""
    if targets is None:
        return logits
    return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), targets.view(-1))
