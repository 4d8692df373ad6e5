"""The torch side of the catalogue: building a model's module and the model surgery that
strategies apply (pruned blocks, quantized linears, sequence-parallel attention).

It imports torch, so the catalogue never imports it (`memsweep plan` stays free of torch):
the rank does (jobs/hooks.py) and hands it to the rank-side hooks as `RankContext.tools`;
tests import it directly.
"""

from __future__ import annotations

from suite.gpt import GPT
from suite.llama import Llama
from suite.model_surgery import prune_structured, prune_unstructured, quantize
from suite.models import ModelSpec
from suite.sequence_split import sequence_parallel

__all__ = ["build_model", "prune_structured", "prune_unstructured", "quantize",
           "sequence_parallel"]

FAMILIES = {"gpt": GPT, "llama": Llama}


def build_model(spec: ModelSpec, *, checkpoint_every: int = 0, device: str | None = None):
    """The torch module for `spec`, of its family."""
    return FAMILIES[spec.family](spec, checkpoint_every=checkpoint_every, device=device)
