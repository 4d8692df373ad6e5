"""The model catalogue: a GPT-style decoder (our own torch code) and its named sizes.

The cluster sizes follow the GPT-3 paper's table (Brown et al. 2020, Table 2.1);
the CPU sizes are small enough for tests and the demo on a 2-core machine.
`ModelSpec.n_params` is exact for this architecture (tied input/output
embedding, learned positions, pre-LayerNorm blocks with biases); a test checks
it against the built module for every size, on the meta device for big ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from suite.errors import UserInputError


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    name: str
    n_layer: int
    d_model: int
    n_head: int
    vocab_size: int
    max_seq_len: int
    scale: str  # "cpu" or "cluster": which machines the size is meant for

    def __post_init__(self) -> None:
        if self.d_model % self.n_head:
            raise ValueError(f"model {self.name}: d_model {self.d_model} not divisible by n_head")

    @property
    def n_params(self) -> int:
        d, L = self.d_model, self.n_layer
        per_block = 12 * d * d + 13 * d  # qkv+proj (4d²+4d), mlp (8d²+5d), 2 LayerNorms (4d)
        return self.vocab_size * d + self.max_seq_len * d + L * per_block + 2 * d


def _spec(name: str, scale: str, L: int, d: int, h: int, V: int = 50257,
          S: int = 2048) -> ModelSpec:
    return ModelSpec(name=name, n_layer=L, d_model=d, n_head=h, vocab_size=V, max_seq_len=S,
                     scale=scale)


MODELS: dict[str, ModelSpec] = {
    m.name: m
    for m in (
        _spec("tiny", "cpu", 2, 128, 4, V=1024, S=256),
        _spec("small", "cpu", 4, 256, 8, V=2048, S=256),
        _spec("base", "cpu", 6, 384, 6, V=4096, S=512),
        _spec("125m", "cluster", 12, 768, 12),
        _spec("350m", "cluster", 24, 1024, 16),
        _spec("760m", "cluster", 24, 1536, 16),
        _spec("1.3b", "cluster", 24, 2048, 16),
        _spec("2.7b", "cluster", 32, 2560, 32),
        _spec("6.7b", "cluster", 32, 4096, 32),
        _spec("13b", "cluster", 40, 5120, 40),
    )
}


def model_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise UserInputError(
            f"unknown model size {name!r}", key="model",
            fix=f"use one of: {', '.join(MODELS)}",
        ) from None


def build_model(spec: ModelSpec, *, checkpoint_every: int = 0, device: str | None = None):
    """Build the torch module for `spec` (torch imported here: the catalogue stays light)."""
    from suite.gpt import GPT

    return GPT(spec, checkpoint_every=checkpoint_every, device=device)


def flops_per_token(spec: ModelSpec, seq_len: int) -> float:
    """Training FLOPs per token: 6N + 12·L·h·s (Kaplan et al.; recompute not counted)."""
    return 6 * spec.n_params + 12 * spec.n_layer * spec.d_model * seq_len


def human_count(n: int) -> str:
    if n <= 0:
        return "0"
    exp = min(int(math.log10(n)) // 3, 4)
    return f"{n / 10 ** (3 * exp):.3g}{['', 'k', 'M', 'B', 'T'][exp]}"
