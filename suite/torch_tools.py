"""The torch side of the catalogue: building a model's module and the model surgery that
strategies apply (pruned blocks, quantized linears, sequence-parallel attention).

It imports torch, so the catalogue never imports it (`memsweep plan` stays free of torch):
the rank does (jobs/hooks.py) and hands it to the rank-side hooks as `RankContext.tools`;
tests import it directly.
"""

from __future__ import annotations

from suite.decoder import unit_seed
from suite.gpt import GPT
from suite.llama import Llama
from suite.model_surgery import prune_structured, prune_unstructured, quantize
from suite.models import ModelSpec
from suite.pipeline_layers import Unit, loss, pipe_layers
from suite.sequence_split import sequence_parallel

__all__ = ["build_model", "build_pipeline", "prune_structured", "prune_unstructured",
           "quantize", "sequence_parallel"]

FAMILIES = {"gpt": GPT, "llama": Llama}


def build_model(spec: ModelSpec, *, checkpoint_every: int = 0, device: str | None = None):
    """The torch module for `spec`, of its family."""
    return FAMILIES[spec.family](spec, checkpoint_every=checkpoint_every, device=device)


def build_pipeline(spec: ModelSpec, *, stages: int, data_parallel: int):
    """This rank's stage of `spec` as DeepSpeed's PipelineModule (the process group is up).

    Consecutive ranks form one pipeline (stage = rank % stages), as the other model-parallel
    strategies group a replica's ranks (suite/parallel.py); DeepSpeed's default puts the
    data-parallel axis innermost instead.
    """
    # heavy: loaded late, in the rank only
    from deepspeed.pipe import LayerSpec, PipelineModule, TiedLayerSpec
    from deepspeed.runtime.pipe.topology import ProcessTopology

    specs = [TiedLayerSpec(p.tie, Unit, p.make, p.seed, forward_fn=p.forward,
                           tied_weight_attr=["0.weight"]) if p.tie else
             LayerSpec(Unit, p.make, p.seed) for p in pipe_layers(spec, unit_seed())]
    topology = ProcessTopology(axes=["data", "pipe"], dims=[data_parallel, stages])
    return PipelineModule(layers=specs, topology=topology, loss_fn=loss,
                          partition_method="parameters")
