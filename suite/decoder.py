"""What the decoder families (suite/gpt.py, suite/llama.py) do alike: where a module is built,
the initialisation, the pass through the blocks with activation checkpointing, the loss.
Imported only where torch runs."""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint


def built_on(device: str | None):
    """Build parameters on `device` ("meta": no memory, for counting); None: torch's default."""
    return torch.device(device) if device else contextlib.nullcontext()


def init_weights(module: nn.Module) -> None:
    # GPT-2's init; torch's default N(0, 1) embeddings make a tied head echo its input.
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


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
