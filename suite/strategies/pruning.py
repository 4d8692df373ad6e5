"""Pruning: unstructured magnitude pruning (masks) vs structured pruning (smaller layers).

    unstructured-<pct>  torch.nn.utils.prune's L1 magnitude pruning of every block's linear
                        weights: a dense weight_orig plus a dense mask buffer -- zeros are
                        still stored, so dense memory does not shrink (it grows by the masks)
    structured-<pct>    removes <pct> % of each block's attention heads and MLP neurons
                        (lowest weight norm): smaller tensors, so every byte that scales
                        with them shrinks
The model is pruned once after it is built (from its initial weights), before
DeepSpeed sees it; in distillation the student is pruned, the teacher not.
"""

from __future__ import annotations

import re

from suite.models import ModelSpec, model_spec
from suite.peak_term import ALL, PeakTerm
from suite.prediction import add_term
from suite.resolved import Resolved
from suite.strategy_spec import Axis, BlockWidths, Module, RankContext, Rule, Strategy, Values

_VALUE = re.compile(r"(unstructured|structured)-([1-9][0-9]?)")


def parse(value: str) -> tuple[str, float] | None:
    """("structured", 0.5) for "structured-50"; None for "none"."""
    match = _VALUE.fullmatch(value)
    return (match.group(1), int(match.group(2)) / 100) if match else None


def _check(value: object) -> str | None:
    if value == "none" or parse(str(value)):
        return None
    return f"{value!r} is not none, unstructured-<pct> or structured-<pct> (pct 1-99)"


def kept(n: int, sparsity: float) -> int:
    return max(1, round(n * (1 - sparsity)))


def transform(model: Module, run: Resolved, ctx: RankContext) -> Module:
    how, sparsity = parse(run["pruning"])
    prune = ctx.tools.prune_structured if how == "structured" else ctx.tools.prune_unstructured
    return prune(model, sparsity)


def needs_gpt_block(axis: str, what: str) -> Rule:
    """The rule of a strategy whose model transform rewrites suite/gpt.py's Block."""
    return Rule(name=f"{axis}-needs-gpt-block",
                reason=f"{what} rewrites the GPT block's layers (suite/gpt.py); the llama "
                       "family has no such transform yet",
                excludes=lambda v: v[axis] != "none" and model_spec(v["model"]).family != "gpt")


def block_linear_params(values: dict) -> tuple[int, int]:
    """(dense, after pruning) weights + biases of one block's linear layers."""
    spec = model_spec(values["model"])
    d, h = spec.d_model, spec.n_head
    dense = 12 * d * d + 9 * d
    how, s = parse(values["pruning"]) or ("none", 0.0)
    if how != "structured":
        return dense, dense
    inner, ffn = kept(h, s) * (d // h), kept(4 * d, s)
    return dense, 3 * d * inner + 3 * inner + inner * d + d + 2 * d * ffn + ffn + d


def memory_term(values: dict, p):
    spec, width = model_spec(values["model"]), 4 if values["precision"] == "fp32" else 2
    how, s = parse(values["pruning"])
    if how == "unstructured":  # a dense mask per pruned weight, in the model's dtype
        return add_term(p, values, category="params", name="pruning masks (buffers)",
                        nbytes=spec.n_layer * 12 * spec.d_model ** 2 * width,
                        note="zeros are stored: weight_orig stays dense, the mask is extra")
    dense, pruned = block_linear_params(values)
    ratio = spec.n_layer * (dense - pruned) / spec.n_params  # that much less of every category
    for category in ("params", "grads", "master_params", "optimizer_state"):
        if held := getattr(p, f"{category}_bytes"):
            p = add_term(p, values, category=category, name=f"structured pruning {s:.0%}",
                         nbytes=-int(held * ratio), note="fewer heads and MLP neurons per block")
    return p


def block_widths(values: Values, spec: ModelSpec) -> BlockWidths:
    """Structured pruning's block (suite/model_surgery.py's PrunedBlock): fewer heads and MLP
    neurons, so every activation of theirs shrinks; unstructured pruning keeps the widths."""
    how, s = parse(str(values["pruning"])) or ("none", 0.0)
    if how != "structured":
        return BlockWidths(heads=spec.n_head, ffn=spec.ffn)
    return BlockWidths(heads=kept(spec.n_head, s), ffn=kept(spec.ffn, s))


def peak_terms(values: Values, spec: ModelSpec) -> list[PeakTerm]:
    """Unstructured pruning: torch's forward pre-hook sets each pruned weight to
    weight_orig * mask, a new dense tensor that stays the module's attribute until the next
    forward (the linear saves it for backward meanwhile): a third dense copy of the block
    linears' weights at every moment of a step after the first forward. Measured (tiny, 2
    ranks, ZeRO-0, fp32): the tensor peak exceeds the other terms by exactly that."""
    if (parse(str(values["pruning"])) or ("",))[0] != "unstructured":
        return []
    width = 4 if values["precision"] == "fp32" else 2
    return [PeakTerm(name="pruned weights (weight_orig x mask)", points=ALL,
                     nbytes=spec.n_layer * 12 * spec.d_model ** 2 * width, category="activations",
                     note="recomputed by the pre-hook each forward, kept as the attribute")]


STRATEGY = Strategy(
    name="pruning",
    description="unstructured magnitude pruning (masks: dense memory stays) or structured "
                "pruning of heads and neurons (smaller tensors)",
    axes=(Axis(name="pruning", type=str, default="none", check=_check,
               values="none | unstructured-<pct> | structured-<pct>",
               help="pruning: none, unstructured-<pct> (magnitude, masks) or structured-<pct> "
                    "(heads and MLP neurons removed)"),),
    rules=(needs_gpt_block("pruning", "pruning"),
           Rule(name="unstructured-pruning-not-with-zero-3",
                reason="torch's pruning computes weight = weight_orig * mask in a forward "
                       "pre-hook that runs before ZeRO-3 gathers weight_orig's partition",
                excludes=lambda v: (parse(v["pruning"]) or ("",))[0] == "unstructured"
                and v["zero_stage"] == 3),),
    model_transform=transform,
    transform_whole=True,
    memory_term=memory_term,
    block_widths=block_widths,
    peak_terms=peak_terms,
)
