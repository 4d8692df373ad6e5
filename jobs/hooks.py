"""Applying the strategy catalogue in a rank: generic, by iterating suite.strategies.

No strategy is named here: each catalogue entry's hooks (suite/strategy_spec.py) say
what it does to the model, the optimizer, the loss, and what it reports. Every function
takes the scenario resolved once (`Scenario.resolve()`): presets are not re-resolved here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from jobs.ledger import count
from jobs.ranks import Ranks
from suite import torch_tools
from suite.resolved import Resolved
from suite.strategies import STRATEGIES
from suite.strategy_spec import Module, Objective, RankContext, TrainStep


def context(run: Resolved, ranks: Ranks) -> RankContext:
    device = run.workload.device
    return RankContext(run_id=run.run_id, rank=ranks.rank, local_rank=ranks.local_rank,
                       device=device, seed=run.settings.seed, tools=torch_tools,
                       torch_device=f"cuda:{ranks.local_rank}" if device == "cuda" else "cpu")


def prepare(run: Resolved, ctx: RankContext) -> None:
    """Process set-up (allocator settings, ...) before anything is allocated."""
    for s in STRATEGIES:
        if s.prepare is not None:
            s.prepare(run, ctx)


def build(run: Resolved, config: dict | None, ctx: RankContext) -> Module:
    """The scenario's model with every active strategy's transform applied, in catalogue order.

    ZeRO-3 (config given, stage 3) partitions parameters as they are created, so that no
    rank holds the whole model; a transform that needs the whole model (transform_whole)
    gets it built whole first, and the transformed model is partitioned afterwards.
    """
    transforms = [s for s in STRATEGIES if s.name in run.active and s.model_transform]
    builders = [s.build for s in STRATEGIES if s.name in run.active and s.build]
    if builders:  # the strategy builds the module (a pipeline stage); ZeRO-3 is ruled out
        return _apply(builders[0](run, ctx), transforms, run, ctx)
    zero3 = bool(config) and config.get("zero_optimization", {}).get("stage") == 3
    if zero3 and not any(s.transform_whole for s in transforms):
        import deepspeed  # heavy: loaded late, in the rank only

        with deepspeed.zero.Init(config_dict_or_path=config):
            model = torch_tools.build_model(run.model)
        return _apply(model, transforms, run, ctx)
    model = _apply(torch_tools.build_model(run.model, device=ctx.torch_device), transforms, run,
                   ctx)
    if zero3:
        import deepspeed  # heavy: loaded late, in the rank only

        deepspeed.zero.Init(module=model, config_dict_or_path=config)
    return model


def _apply(model: Module, transforms, run: Resolved, ctx: RankContext) -> Module:
    for s in transforms:
        model = s.model_transform(model, run, ctx)
    return model


def train_step(run: Resolved) -> TrainStep | None:
    """A strategy's own optimizer step (the pipeline's train_batch), else None."""
    found = [s.train_step for s in STRATEGIES if s.name in run.active and s.train_step]
    if len(found) > 1:
        raise RuntimeError("two strategies bring their own train step")
    return found[0] if found else None


def client_optimizer(run: Resolved) -> Callable[[Iterable], Any] | None:
    """A params -> optimizer factory where a strategy brings its own, else None."""
    found = [f for s in STRATEGIES if s.optimizer is not None
             if (f := s.optimizer(run)) is not None]
    if len(found) > 1:
        raise RuntimeError("two strategies bring their own optimizer")
    return found[0] if found else None


def mpu(run: Resolved, ctx: RankContext) -> Any:
    """DeepSpeed's `mpu` (the process groups) a strategy brings (sequence parallelism), else
    None."""
    found = [m for s in STRATEGIES if s.mpu is not None if (m := s.mpu(run, ctx)) is not None]
    if len(found) > 1:
        raise RuntimeError("two strategies bring their own process groups")
    return found[0] if found else None


def objective(run: Resolved, ctx: RankContext) -> Objective | None:
    """The loss a strategy puts in place of the model's own (distillation), else None."""
    found = [o for s in STRATEGIES if s.objective is not None
             if (o := s.objective(run, ctx)) is not None]
    if len(found) > 1:
        raise RuntimeError("two strategies replace the loss")
    return found[0] if found else None


def observe(run: Resolved, config: dict | None, ctx: RankContext, model: Module,
            loss: Objective | None = None) -> dict:
    """RankMetrics fields the strategies report: model buffers (pruning masks), what the
    objective holds (a teacher), each strategy's own observations (NVMe bytes, snapshots)."""
    import torch  # heavy: loaded late, in the rank only

    buffers = [b for b in model.buffers() if isinstance(b, torch.Tensor)]
    found: dict = {"buffer_bytes": count({"params": buffers}).params_bytes}
    if loss is not None:
        found.update({field: count({"params": tensors}).params_bytes
                      for field, tensors in loss.held().items()})
    for s in STRATEGIES:
        if s.observe is not None:
            found.update(s.observe(run, config or {}, ctx))
    return found


def cleanup(run: Resolved, config: dict | None, ctx: RankContext) -> None:
    """Each strategy's cleanup (files it left), by one rank per node after all are done."""
    import torch.distributed as dist  # heavy: loaded late, in the rank only

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
    if ctx.local_rank != 0:
        return
    for s in STRATEGIES:
        if s.cleanup is not None:
            s.cleanup(run, config or {}, ctx)
