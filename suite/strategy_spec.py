"""The types every catalogue entry is made of: Axis, Rule, RankContext and the Strategy spec.

A strategy is one module in `suite/strategies/`: its axes (what a sweep varies),
its rules (combinations that cannot run), its DeepSpeed config fragment, its model
or optimizer transform, and its term in the analytical memory model (written with
`suite.prediction.add_term`). Nothing outside that module knows its name:
`suite/axes.py`, `suite/rules.py`, `suite/ds_config.py`, `suite/memory_model.py` and
`jobs/` iterate the catalogue (`suite/strategies/__init__.py`).

Hooks that run inside a rank (transforms, optimizers, objectives) import torch
themselves, so the catalogue imports in milliseconds (`memsweep plan` has no torch).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from suite.models import ModelSpec
from suite.peak_term import PeakTerm
from suite.prediction import Prediction
from suite.resolved import Resolved

SCENARIO_KINDS = ("train", "inference", "distill")  # the workload axis `kind`
TORCH_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}  # precision -> torch


@dataclass(frozen=True, kw_only=True)
class Axis:
    name: str
    type: type
    default: object
    help: str
    choices: tuple | None = None  # allowed values; None = any value of `type` >= minimum
    minimum: int | None = None
    check: Callable[[object], str | None] | None = None  # extra validation: why not, or None
    values: str | None = None  # what it takes, in words, where `choices` cannot say it
    # Whether a value away from the default names the strategy (suite/scenario_name.py);
    # False for a setting of one, such as where it swaps to (nvme_path).
    names_strategy: bool = True

    def problem(self, value: object) -> str | None:
        """Why `value` is not allowed on this axis, or None if it is."""
        if type(value) is not self.type:  # bool is not int, int is not str
            return f"expected {self.type.__name__}, got {type(value).__name__} {value!r}"
        if self.choices is not None and value not in self.choices:
            return f"{value!r} is not one of {', '.join(map(repr, self.choices))}"
        if self.minimum is not None and value < self.minimum:
            return f"{value!r} is below the minimum {self.minimum}"
        return self.check(value) if self.check else None

    def describe(self) -> str:
        """The values it takes, as `memsweep strategies` prints them."""
        if self.choices is not None:
            return " | ".join(map(str, self.choices))
        if self.values:
            return self.values
        name = self.type.__name__
        return name if self.minimum is None else f"{name} >= {self.minimum}"


@dataclass(frozen=True, kw_only=True)
class Rule:
    name: str
    reason: str
    excludes: Callable[[Values], bool]  # takes the scenario's (effective) axis values


@dataclass(frozen=True, kw_only=True)
class RankContext:
    """What a rank-side hook may need besides the axis values."""

    run_id: str
    rank: int
    local_rank: int
    device: str  # "cpu" or "cuda"
    torch_device: str  # "cpu" or "cuda:<local_rank>"
    seed: int
    tools: TorchTools  # building models and model surgery (suite/torch_tools.py)


@dataclass(frozen=True, kw_only=True)
class LayerShare:
    """Which of the model's layers a rank runs, for its activations (suite/peak_model.py): all
    of them unless a strategy cuts the model into stages (`layer_share`)."""

    blocks: int
    embeds: bool = True  # the token embedding: it takes the token ids
    head: bool = True  # the final norm, the head and the loss
    in_flight: int = 1  # micro-batches whose activations it holds at once
    # Micro-batch outputs it keeps beyond their use (DeepSpeed's pipeline buffers): a stage's
    # hidden states until their backward; the last stage's logits until the buffer is reused.
    kept_outputs: int = 0


@dataclass(frozen=True, kw_only=True)
class BlockWidths:
    """A transformer block's widths as a rank builds it, for its activations
    (suite/peak_model.py): the model's own unless a strategy narrows them (`block_widths`)."""

    heads: int  # attention heads, head_dim wide each (the model's head_dim)
    ffn: int  # MLP width

    def __post_init__(self) -> None:
        if self.heads < 1 or self.ffn < 1:
            raise ValueError(f"block widths heads={self.heads}, ffn={self.ffn}: each must be "
                             "at least 1")


# A scenario's axis values by name, presets resolved (suite.strategies.effective); a Resolved
# is one too. Plan-time hooks (rules, configure, implies, memory_term) take these: they run for
# every combination of a sweep and for rows of a results frame, where nothing is resolved.
Values = Mapping[str, object]
Module = Any  # a torch.nn.Module: torch is not imported by the catalogue


class TorchTools(Protocol):
    """The torch side a rank hands its hooks (`RankContext.tools`, suite/torch_tools.py), so
    that the catalogue never imports torch."""

    def build_model(self, spec: ModelSpec, *, checkpoint_every: int = 0,
                    device: str | None = None) -> Module: ...

    def prune_structured(self, model: Module, sparsity: float) -> Module: ...

    def prune_unstructured(self, model: Module, sparsity: float) -> Module: ...

    def quantize(self, model: Module, bits: int, dtype: Any) -> Module: ...

    def sequence_parallel(self, model: Module, group: Any, *, first_position: int) -> Module: ...

    def build_pipeline(self, spec: ModelSpec, *, stages: int, data_parallel: int) -> Module: ...


class Objective(Protocol):
    """What replaces the model's own loss (distillation's teacher and KL loss)."""

    def loss(self, engine: Any, x: Any, y: Any) -> Any: ...

    def held(self) -> dict[str, list]:
        """{RankMetrics field: the tensors it holds}; the rank counts their bytes."""
        ...


# The hooks' signatures. Rank-side hooks receive the scenario resolved once (Resolved: typed
# workload, effective values, model spec, active strategies) and the rank's RankContext.
Configure = Callable[[Values, dict], dict]
Implies = Callable[[Values], dict]
ModelTransform = Callable[[Module, Resolved, RankContext], Module]
ClientOptimizer = Callable[[Resolved], Callable[[Iterable], Any] | None]
MakeObjective = Callable[[Resolved, RankContext], Objective | None]
Prepare = Callable[[Resolved, RankContext], None]
Observe = Callable[[Resolved, dict, RankContext], dict]
Cleanup = Callable[[Resolved, dict, RankContext], None]
MemoryTerm = Callable[[Values, Prediction], Prediction]
Splits = Callable[[Values], int]
MakeMpu = Callable[[Resolved, RankContext], Any]
RankShare = Callable[[Values, ModelSpec, int], list[int]]
BuildModel = Callable[[Resolved, RankContext], Module]
LayerShareOf = Callable[[Values, ModelSpec, int], LayerShare]
PeakTerms = Callable[[Values, ModelSpec], list[PeakTerm]]
BlockWidthsOf = Callable[[Values, ModelSpec], BlockWidths]
# (engine, inputs, targets, micro-steps, mark) -> the step's loss; mark(point) or None, as in
# jobs/train.py's own step: "forward", "backward", "step", "end".
TrainStep = Callable[[Any, Any, Any, int, Callable[[str], None] | None], float]


@dataclass(frozen=True, kw_only=True)
class Strategy:
    """One catalogue entry. Every hook is optional; `values` are a scenario's axis values
    (presets resolved), `run` the scenario resolved (suite/resolved.py), `ctx` the rank's
    `RankContext`.

    configure(values, config) -> fragment    deep-merged into the DeepSpeed config built so
                                             far (catalogue order); it may read that config
    implies(values) -> {axis: value}         axis values the strategy sets (presets)
    model_transform(model, run, ctx) -> model   applied in the rank before DeepSpeed sees it
    transform_whole: True when the transform needs the unpartitioned model (ZeRO-3 then
                     partitions the transformed model instead of building it partitioned)
    optimizer(run) -> factory | None         a client optimizer, params -> torch optimizer,
                                             for optimizers DeepSpeed's config cannot name
    objective(run, ctx) -> Objective | None  replaces the loss: obj.loss(engine, x, y) and
                                             obj.held() -> {RankMetrics field: tensors}
    prepare(run, ctx)                        process set-up before the model is built
    observe(run, config, ctx) -> {RankMetrics field: value}   after the timed steps
    cleanup(run, config, ctx)                once per node after the run (files it left)
    memory_term(values, prediction) -> prediction   its part of suite/memory_model.py
    splits(values) -> int                    ranks one model replica is split over (model
                                             parallelism; suite/parallel.py)
    rank_share(values, spec, rank) -> [sizes]   the parameters global rank `rank`'s module
                                             holds
    layer_share(values, spec, rank) -> LayerShare   the layers global rank `rank` runs
    block_widths(values, spec) -> BlockWidths   a block's heads and MLP width as the rank
                                             builds it (structured pruning narrows them)
    peak_terms(values, spec) -> [PeakTerm]   what it adds to a rank's peak beyond its state
                                             at rest (suite/peak_model.py); a strategy with an
                                             `objective` brings its loss's terms here, in
                                             place of the model's own loss terms
    build(run, ctx) -> model                 builds the rank's module in place of the
                                             catalogue's (a pipeline stage: its layers only)
    train_step(engine, x, y, micro_steps, mark) -> loss   one optimizer step in place of
                                             the rank's forward/backward/step loop
    seq_splits(values) -> int                ranks one sample's sequence is split over: they
                                             hold whole replicas (ZeRO shards over them too)
                                             and each feeds its slice (suite/parallel.py)
    mpu(run, ctx) -> module | None           DeepSpeed's `mpu` (its process groups), passed
                                             to deepspeed.initialize

    Hooks run for every scenario (a hook checks its own axes); `active` says whether
    the strategy is on.
    """

    name: str
    description: str  # one line
    axes: tuple[Axis, ...] = ()
    uses: tuple[str, ...] = ()  # workload axes (suite/axes.py) the strategy is swept on
    rules: tuple[Rule, ...] = ()
    kinds: tuple[str, ...] = SCENARIO_KINDS  # the kinds it applies to; elsewhere its axes are off
    configure: Configure | None = None
    implies: Implies | None = None
    model_transform: ModelTransform | None = None
    transform_whole: bool = False
    optimizer: ClientOptimizer | None = None
    objective: MakeObjective | None = None
    prepare: Prepare | None = None
    observe: Observe | None = None
    cleanup: Cleanup | None = None
    memory_term: MemoryTerm | None = None
    splits: Splits | None = None
    rank_share: RankShare | None = None
    seq_splits: Splits | None = None
    mpu: MakeMpu | None = None
    layer_share: LayerShareOf | None = None
    block_widths: BlockWidthsOf | None = None
    peak_terms: PeakTerms | None = None
    build: BuildModel | None = None
    train_step: TrainStep | None = None

    def __post_init__(self) -> None:
        if not self.description or "\n" in self.description:
            raise ValueError(f"strategy {self.name}: description must be one line")
        if unknown := set(self.kinds) - set(SCENARIO_KINDS):
            raise ValueError(f"strategy {self.name}: unknown kinds {sorted(unknown)}")

    def active(self, values: Values) -> bool:
        """Whether any of its own axes is away from its default ("strategy off")."""
        return any(values.get(a.name, a.default) != a.default for a in self.axes)

    def hooks(self) -> list[str]:
        """`module.function` of each hook it has, for `memsweep strategies` and --explain."""
        names = ("configure", "implies", "model_transform", "optimizer", "objective", "prepare",
                 "observe", "cleanup", "memory_term", "build", "train_step")
        return [f"{n}={getattr(self, n).__module__}.{getattr(self, n).__qualname__}"
                for n in names if getattr(self, n) is not None]


def merge(base: dict, fragment: dict) -> dict:
    """`base` with `fragment` deep-merged into it: a new dict; nested dicts merge, other values
    replace, None removes the key."""
    out = dict(base)
    for key, value in fragment.items():
        if value is None:  # a fragment deletes a key with None (JSON null)
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out
