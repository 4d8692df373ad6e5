"""The Llama-style decoder (RMSNorm, SwiGLU, rotary positions, grouped-query attention, untied
embeddings). Imported only where torch runs.

Module names follow the common convention (`self_attn.{q,k,v,o}_proj`, `mlp.{gate,up,down}_proj`)
so that DeepSpeed's AutoTP llama preset finds the layers it splits.
"""

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


class RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalise in fp32 as the reference implementations do, then back to x's precision.
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(x.dtype)


class Attention(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        d, kv = spec.d_model, spec.kv_heads * spec.head_dim
        self.head_dim = spec.head_dim
        self.q_proj = nn.Linear(d, d, bias=spec.qkv_bias)
        self.k_proj = nn.Linear(d, kv, bias=spec.qkv_bias)
        self.v_proj = nn.Linear(d, kv, bias=spec.qkv_bias)
        self.o_proj = nn.Linear(d, d, bias=False)
        self.core = AttentionCore(spec.rope_theta)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, S, _ = x.shape
        # Head counts come from the projections' widths, so a tensor-parallel shard (AutoTP
        # splits q/k/v by output columns) computes its own heads unchanged.
        q, k, v = (t.view(B, S, -1, self.head_dim)
                   for t in (self.q_proj(x), self.k_proj(x), self.v_proj(x)))
        return self.o_proj(self.core(q, k, v).reshape(B, S, -1))


class MLP(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        d, f = spec.d_model, spec.ffn
        self.gate_proj = nn.Linear(d, f, bias=False)
        self.up_proj = nn.Linear(d, f, bias=False)
        self.down_proj = nn.Linear(f, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(spec.d_model)
        self.self_attn = Attention(spec)
        self.post_attention_layernorm = RMSNorm(spec.d_model)
        self.mlp = MLP(spec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x))
        return x + self.mlp(self.post_attention_layernorm(x))


class Llama(nn.Module):
    def __init__(self, spec: ModelSpec, *, checkpoint_every: int = 0,
                 device: str | None = None) -> None:
        super().__init__()
        self.spec = spec
        # Recompute every k-th block in backward instead of keeping its activations.
        self.checkpoint_every = checkpoint_every
        self.first_position = 0  # rotary positions count in the attention core (decoder.py)
        base = unit_seed()
        with built_on(device):
            self.embed_tokens = nn.Embedding(spec.vocab_size, spec.d_model)
            self.layers = nn.ModuleList(Block(spec) for _ in range(spec.n_layer))
            self.norm = RMSNorm(spec.d_model)
            self.lm_head = None if spec.ties else nn.Linear(spec.d_model, spec.vocab_size,
                                                            bias=False)
        # the pipeline's units, in order (suite/pipeline_partition.py)
        init_units([self.embed_tokens, *self.layers, self.norm,
                    *([self.lm_head] if self.lm_head is not None else [])], base)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        x = self.embed_tokens(idx)
        x = through_blocks(self.layers, x, checkpoint_every=self.checkpoint_every,
                           training=self.training)
        x = self.norm(x)
        logits = x @ self.embed_tokens.weight.t() if self.lm_head is None else self.lm_head(x)
        return lm_loss(logits, targets)
