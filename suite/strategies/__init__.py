"""The strategy catalogue: one module per strategy, listed once here, in the order they apply.

Order matters where one strategy reads what another wrote: DeepSpeed config
fragments merge in this order (async after offload, whose sections it pins),
memory terms apply in this order (pruning scales the optimizer's states).
Everything else iterates STRATEGIES; no module outside this folder names one.
"""

from __future__ import annotations

from suite.prediction import Prediction
from suite.strategies import (
    allocator,
    async_compute,
    batching,
    buckets,
    checkpointing,
    compression,
    data_parallel,
    distillation,
    hardware,
    offload,
    optimizer,
    pipeline,
    precision,
    pruning,
    quantization,
    sequence_parallel,
    tensor_parallel,
    zero,
)
from suite.strategy_spec import SCENARIO_KINDS, Axis, Rule, Strategy

STRATEGIES: tuple[Strategy, ...] = tuple(m.STRATEGY for m in (
    data_parallel, tensor_parallel, pipeline, sequence_parallel, zero, offload, checkpointing,
    precision, optimizer, batching, buckets, async_compute, pruning, quantization,
    distillation, compression,
    allocator, hardware))

if len({s.name for s in STRATEGIES}) != len(STRATEGIES):  # pragma: no cover
    raise ValueError("two strategies share a name")


def strategy_axes() -> tuple[Axis, ...]:
    return tuple(a for s in STRATEGIES for a in s.axes)


_DEFAULTS = {a.name: a.default for a in strategy_axes()}


def effective(values: dict) -> dict:
    """The scenario's values with every preset's implied axis values filled in."""
    out = dict(values)
    for s in STRATEGIES:
        if s.implies is not None:
            out.update(s.implies(values))
    return out


def active(values: dict) -> list[Strategy]:
    """The strategies a scenario switches on (any own axis away from its default)."""
    eff = effective(values)
    return [s for s in STRATEGIES if s.active(eff)]


def _kind_rule(s: Strategy) -> Rule:
    return Rule(name=f"{s.name}-needs-kind-{'-or-'.join(s.kinds)}",
                reason=f"{s.name} applies to {' and '.join(s.kinds)} scenarios only",
                excludes=lambda v: s.active(effective(v)) and v["kind"] not in s.kinds)


def _conflict_rule(s: Strategy) -> Rule:
    def excludes(v: dict) -> bool:
        return any(v.get(a, _DEFAULTS[a]) not in (_DEFAULTS[a], value)
                   for a, value in s.implies(v).items())

    return Rule(name=f"{s.name}-sets-its-axes",
                reason=f"a {s.name} preset sets these axes itself: leave them at their default",
                excludes=excludes)


def _on_effective(r: Rule) -> Rule:
    return Rule(name=r.name, reason=r.reason, excludes=lambda v: r.excludes(effective(v)))


def rules() -> tuple[Rule, ...]:
    """Every catalogue rule, each taking a scenario's values as the sweep wrote them."""
    presets = [s for s in STRATEGIES if s.implies is not None]  # their reasons come first:
    first = [_conflict_rule(s) for s in presets]  # a preset explains what it implies
    first += [_on_effective(r) for s in presets for r in s.rules]
    kinds = [_kind_rule(s) for s in STRATEGIES if set(s.kinds) != set(SCENARIO_KINDS)]
    rest = [_on_effective(r) for s in STRATEGIES if s.implies is None for r in s.rules]
    return (*first, *kinds, *rest)


def memory_terms(values: dict, prediction: Prediction) -> Prediction:
    """Each active strategy's term applied to the core model's prediction
    (suite/memory_model.py)."""
    values = effective(values)
    for s in STRATEGIES:
        if s.memory_term is not None and s.active(values):
            prediction = s.memory_term(values, prediction)
    return prediction
