"""The GPT-style decoder itself (pre-LN, tied embeddings). Imported only where torch runs."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from suite.decoder import (
    AttentionCore,
    built_on,
    init_units,
    lm_loss,
    through_blocks,
    unit_seed,
)
from suite.models import ModelSpec


class Block(nn.Module):
    def __init__(self, d: int, n_head: int) -> None:
        super().__init__()
        self.n_head = n_head
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d)
        self.out = nn.Linear(4 * d, d)
        self.core = AttentionCore()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, S, D = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(D, dim=2)
        q, k, v = (t.view(B, S, self.n_head, D // self.n_head) for t in (q, k, v))
        x = x + self.proj(self.core(q, k, v).reshape(B, S, D))
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    def __init__(self, spec: ModelSpec, *, checkpoint_every: int = 0,
                 device: str | None = None) -> None:
        super().__init__()
        self.spec = spec
        # Recompute every k-th block in backward instead of keeping its activations.
        self.checkpoint_every = checkpoint_every
        # Where this module's positions start: a sequence-parallel rank feeds a later slice.
        self.first_position = 0
        d = spec.d_model
        base = unit_seed()
        with built_on(device):
            self.wte = nn.Embedding(spec.vocab_size, d)
            self.wpe = nn.Embedding(spec.max_seq_len, d)
            self.blocks = nn.ModuleList(Block(d, spec.n_head) for _ in range(spec.n_layer))
            self.ln_f = nn.LayerNorm(d)
        # the pipeline's units, in order (suite/pipeline_partition.py)
        init_units([self.wte, self.wpe, *self.blocks, self.ln_f], base)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        pos = torch.arange(self.first_position, self.first_position + idx.shape[1],
                           device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        x = through_blocks(self.blocks, x, checkpoint_every=self.checkpoint_every,
                           training=self.training)
        logits = self.ln_f(x) @ self.wte.weight.t()  # tied output embedding
        return lm_loss(logits, targets)
