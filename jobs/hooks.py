"""Applying the strategy catalogue in a rank: generic, by iterating suite.strategies.

No strategy is named here: each catalogue entry's hooks (suite/strategy_spec.py) say
what it does to the model, the optimizer, the loss, and what it reports.
"""

from __future__ import annotations

from jobs.ledger import count
from suite.models import build_model, model_spec
from suite.scenario import Scenario
from suite.strategies import STRATEGIES, active, effective
from suite.strategy_spec import RankContext


def context(scenario: Scenario, ranks) -> RankContext:
    device = str(scenario["device"])
    return RankContext(run_id=scenario.run_id, rank=ranks.rank, local_rank=ranks.local_rank,
                       device=device, seed=scenario.settings.seed,
                       torch_device=f"cuda:{ranks.local_rank}" if device == "cuda" else "cpu")


def prepare(scenario: Scenario, ctx: RankContext) -> None:
    """Process set-up (allocator settings, ...) before anything is allocated."""
    values = effective(scenario.values)
    for s in STRATEGIES:
        if s.prepare is not None:
            s.prepare(values, ctx)


def build(scenario: Scenario, config: dict | None, ctx: RankContext):
    """The scenario's model with every active strategy's transform applied, in catalogue order.

    ZeRO-3 (config given, stage 3) partitions parameters as they are created, so that no
    rank holds the whole model; a transform that needs the whole model (transform_whole)
    gets it built whole first, and the transformed model is partitioned afterwards.
    """
    values = effective(scenario.values)
    spec = model_spec(values["model"])
    transforms = [s for s in active(scenario.values) if s.model_transform is not None]
    zero3 = bool(config) and config.get("zero_optimization", {}).get("stage") == 3
    if zero3 and not any(s.transform_whole for s in transforms):
        import deepspeed  # heavy: loaded late, in the rank only

        with deepspeed.zero.Init(config_dict_or_path=config):
            model = build_model(spec)
        return _apply(model, transforms, values)
    model = _apply(build_model(spec, device=ctx.torch_device), transforms, values)
    if zero3:
        import deepspeed  # heavy: loaded late, in the rank only

        deepspeed.zero.Init(module=model, config_dict_or_path=config)
    return model


def _apply(model, transforms, values: dict):
    for s in transforms:
        model = s.model_transform(model, values)
    return model


def transform_names(values: dict) -> list[str]:
    """`strategy: module.function` of each transform a scenario applies (plan --explain)."""
    return [f"{s.name}: {s.model_transform.__module__}.{s.model_transform.__qualname__}"
            for s in active(values) if s.model_transform is not None]


def client_optimizer(scenario: Scenario):
    """A params -> optimizer factory where a strategy brings its own, else None."""
    values = effective(scenario.values)
    found = [f for s in STRATEGIES if s.optimizer is not None
             if (f := s.optimizer(values)) is not None]
    if len(found) > 1:
        raise RuntimeError("two strategies bring their own optimizer")
    return found[0] if found else None


def objective(scenario: Scenario, ctx: RankContext):
    """The loss a strategy puts in place of the model's own (distillation), else None."""
    values = effective(scenario.values)
    found = [o for s in STRATEGIES if s.objective is not None
             if (o := s.objective(values, ctx)) is not None]
    if len(found) > 1:
        raise RuntimeError("two strategies replace the loss")
    return found[0] if found else None


def observe(scenario: Scenario, config: dict | None, ctx: RankContext, model,
            loss=None) -> dict:
    """RankMetrics fields the strategies report: model buffers (pruning masks), what the
    objective holds (a teacher), each strategy's own observations (NVMe bytes, snapshots)."""
    import torch  # heavy: loaded late, in the rank only

    values = effective(scenario.values)
    buffers = [b for b in model.buffers() if isinstance(b, torch.Tensor)]
    found: dict = {"buffer_bytes": count({"params": buffers}).params_bytes}
    if loss is not None:
        found.update({field: count({"params": tensors}).params_bytes
                      for field, tensors in loss.held().items()})
    for s in STRATEGIES:
        if s.observe is not None:
            found.update(s.observe(values, config or {}, ctx))
    return found


def cleanup(scenario: Scenario, config: dict | None, ctx: RankContext) -> None:
    """Each strategy's cleanup (files it left), by one rank per node after all are done."""
    import torch.distributed as dist  # heavy: loaded late, in the rank only

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
    if ctx.local_rank != 0:
        return
    values = effective(scenario.values)
    for s in STRATEGIES:
        if s.cleanup is not None:
            s.cleanup(values, config or {}, ctx)
