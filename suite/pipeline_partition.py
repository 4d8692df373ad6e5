"""Which layers, and so which parameters, each pipeline stage holds: DeepSpeed's
`partition_method="parameters"` reproduced without DeepSpeed, so the memory model knows
every rank's bytes before anything runs.

The pipeline's layers (suite/pipeline_layers.py builds them) are the model's units in
order: GPT: token embedding, position embedding, the blocks, the final norm, the head;
Llama: token embedding, the blocks, the final norm, the head. A tied head is the token
embedding again: DeepSpeed (TiedLayerSpec) builds it on every stage that has either
layer, counts it at both places when it balances, and sums the two copies' gradients.

DeepSpeed 0.19.8 (runtime/pipe/module.py `_partition_layers`, runtime/utils.py
`partition_balanced`) cuts the layer list into stages minimising the spread between the
heaviest and the lightest stage's parameter count, by dynamic programming; where two cuts
cost the same, the later one wins. A stage's module holds its tied layers first, then its
own, in layer order (the order DeepSpeed flattens them).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from suite.models import ModelSpec

TIE = "embed"  # the key of the token embedding a tied head shares


@dataclass(frozen=True, kw_only=True)
class Layer:
    """One pipeline layer: what it is, its parameters' element counts, and its tie key if it
    shares them."""

    kind: str  # "embedding", "positions", "block", "norm" or "head"
    sizes: tuple[int, ...]
    tie: str | None = None


def layers(spec: ModelSpec) -> list[Layer]:
    """The pipeline's layers of `spec`, in order (see the module's docstring)."""
    s, L = spec.parameter_sizes(), spec.n_layer
    tied = spec.ties
    embed = Layer(kind="embedding", sizes=(s[0],), tie=TIE if tied else None)
    if spec.family == "gpt":
        front = [embed, Layer(kind="positions", sizes=(s[1],))]
        back = [Layer(kind="norm", sizes=tuple(s[-2:]))]
        body = s[2:-2]
    else:
        norm = -1 if tied else -2
        front, back = [embed], [Layer(kind="norm", sizes=(s[norm],))]
        body = s[1:norm]
        if not tied:
            back.append(Layer(kind="head", sizes=(s[-1],)))
    per = len(body) // L
    blocks = [Layer(kind="block", sizes=tuple(body[i * per:(i + 1) * per])) for i in range(L)]
    head = [Layer(kind="head", sizes=(s[0],), tie=TIE)] if tied else []
    return front + blocks + back + head


def partition(weights: tuple[int, ...], parts: int) -> tuple[int, ...]:
    """Stage boundaries (parts + 1 indices into `weights`) minimising max - min stage weight."""
    return _balanced(tuple(weights), parts)


@lru_cache(maxsize=256)
def _balanced(weights: tuple[int, ...], parts: int) -> tuple[int, ...]:
    n = len(weights)
    if n <= parts:  # one layer per stage, the rest empty (DeepSpeed's partition_uniform)
        return tuple(min(p, n) for p in range(parts + 1))
    prefix = [0]
    for w in weights:
        prefix.append(prefix[-1] + w)
    inf = float("inf")
    # best[i][j]: (cost, heaviest, lightest) of the first i layers in j stages; cut[i][j]: where
    # the j-th stage starts. Ties go to the later cut, as in DeepSpeed (`>=`).
    best = [[(inf, inf, inf)] * (parts + 1) for _ in range(n + 1)]
    cut = [[0] * (parts + 1) for _ in range(n + 1)]
    best[0][0] = (0, 0, inf)
    for i in range(1, n + 1):
        for j in range(1, min(i, parts) + 1):
            for k in range(i):
                _, hi, lo = best[k][j - 1]
                stage = prefix[i] - prefix[k]
                top, bottom = max(hi, stage), min(lo, stage)
                if best[i][j][0] >= top - bottom:
                    best[i][j], cut[i][j] = (top - bottom, top, bottom), k
    bounds = [n]
    for j in range(parts, 0, -1):
        bounds.append(cut[bounds[-1]][j])
    return tuple(reversed(bounds))


def stage_layers(spec: ModelSpec, stages: int) -> list[list[Layer]]:
    """Each stage's layers, as DeepSpeed cuts them."""
    ls = layers(spec)
    bounds = partition(tuple(sum(layer.sizes) for layer in ls), stages)
    return [ls[bounds[s]:bounds[s + 1]] for s in range(stages)]


def stage_parameter_sizes(spec: ModelSpec, stages: int, stage: int) -> list[int]:
    """The parameters stage `stage`'s module holds, in its order: tied layers first (one copy
    per key), then its own layers."""
    mine = stage_layers(spec, stages)[stage]
    tied = {layer.tie: layer.sizes for layer in mine if layer.tie}
    own = [s for layer in mine if not layer.tie for s in layer.sizes]
    return [s for sizes in tied.values() for s in sizes] + own
