"""Activation checkpointing: keep only a block's input, recompute its activations in backward.

`checkpoint_every` k: 0 none, 1 every block, k every k-th block (blocks 0, k, 2k, ...),
torch's non-reentrant checkpoint inside our GPT (suite/gpt.py). Its memory term is
in the core of suite/memory_model.py (Korthikanti et al.'s activations).
"""

from __future__ import annotations

from suite.models import model_spec
from suite.resolved import Resolved
from suite.strategy_spec import Axis, Module, RankContext, Rule, Strategy


def transform(model: Module, run: Resolved, ctx: RankContext) -> Module:
    model.checkpoint_every = run["checkpoint_every"]
    return model


STRATEGY = Strategy(
    name="checkpointing",
    description="activation checkpointing: recompute every k-th block's activations in "
                "backward instead of keeping them",
    axes=(Axis(name="checkpoint_every", type=int, default=0, minimum=0,
               values="0 (none), 1 (every block), k (every k-th block)",
               help="activation checkpointing: 0 none, 1 every block, k every k-th block"),),
    rules=(Rule(name="checkpoint-every-fits-model",
                reason="checkpoint_every is larger than the model's number of blocks",
                excludes=lambda v: v["checkpoint_every"] > model_spec(v["model"]).n_layer),),
    kinds=("train", "distill"),
    model_transform=transform,
)
