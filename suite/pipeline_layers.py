"""The decoder families as a list of pipeline layers (suite/pipeline_partition.py says which):
each layer one of the whole module's units, built and initialised alone from the unit's own
seed (suite/decoder.py), so a stage holds exactly the whole module's weights of its layers.
Imported only where torch runs; the rank wraps the layers in DeepSpeed's PipelineModule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from suite import gpt, llama
from suite.decoder import init_unit, lm_loss
from suite.models import ModelSpec
from suite.pipeline_partition import TIE


class Unit(nn.Sequential):
    """One layer: `make()` built and initialised from `seed`; its forward is the layer's."""

    def __init__(self, make: Callable[[], nn.Module], seed: int) -> None:
        super().__init__(init_unit(make(), seed))


class Positions(nn.Module):
    """GPT's learned positions added to the token embedding."""

    def __init__(self, max_seq_len: int, d: int) -> None:
        super().__init__()
        self.wpe = nn.Embedding(max_seq_len, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.wpe(torch.arange(x.shape[1], device=x.device))


def tied_head(embedding: Unit, x: torch.Tensor) -> torch.Tensor:
    """The output projection through the token embedding's weight (tied)."""
    return x @ embedding[0].weight.t()


@dataclass(frozen=True, kw_only=True)
class PipeLayer:
    """What DeepSpeed's LayerSpec / TiedLayerSpec is made of: Unit(make, seed)."""

    make: Callable[[], nn.Module]
    seed: int
    tie: str | None = None  # the key of the layer whose weight it shares
    forward: Callable | None = None  # for a tied layer used another way (the head)


def pipe_layers(spec: ModelSpec, base: int) -> list[PipeLayer]:
    """`spec`'s layers in order, unit i seeded base + i as in the whole module."""
    d, V = spec.d_model, spec.vocab_size
    tie = TIE if spec.ties else None
    units: list[Callable[[], nn.Module]] = [partial(nn.Embedding, V, d)]
    if spec.family == "gpt":
        units += [partial(Positions, spec.max_seq_len, d)]
        units += [partial(gpt.Block, d, spec.n_head)] * spec.n_layer + [partial(nn.LayerNorm, d)]
    else:
        units += [partial(llama.Block, spec)] * spec.n_layer + [partial(llama.RMSNorm, d)]
        if not spec.ties:
            units.append(partial(nn.Linear, d, V, bias=False))
    out = [PipeLayer(make=make, seed=base + i, tie=tie if i == 0 else None)
           for i, make in enumerate(units)]
    if spec.ties:
        out.append(PipeLayer(make=units[0], seed=base, tie=tie, forward=tied_head))
    return out


def loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The last stage's loss: the whole module's (suite/decoder.py)."""
    return lm_loss(logits, targets)
