"""Quantization: int8 or int4 weights for inference (and for a distillation teacher).

Weight-only: every block's linear weights are held in int8 (per-output-channel
scale) or int4 (two a byte, a scale and zero per group of 32); embeddings, norms
and biases stay in the inference precision. On the CPU torch's weight-only int8 /
int4 kernels multiply them directly; on GPUs a layer is dequantized when it runs.
Compare with the same model's bf16 / fp32 inference (kind = inference, quantize
= none). In distillation (kind = distill) it quantizes the frozen teacher.
"""

from __future__ import annotations

from suite.models import model_spec
from suite.prediction import add_term
from suite.resolved import Resolved
from suite.strategies import pruning
from suite.strategies.precision import DTYPES
from suite.strategy_spec import Axis, Module, RankContext, Rule, Strategy, TorchTools, Values

BITS = {"int8": 8, "int4": 4}
INT4_GROUP = 32  # = suite/model_surgery.py INT4_GROUP (that module imports torch)


def quantize_model(model: Module, values: Values, dtype_name: str, tools: TorchTools) -> Module:
    """`model` with quantized linear weights and everything else in `dtype_name`."""
    import torch  # heavy: torch loads late, in the rank only

    return tools.quantize(model, BITS[values["quantize"]], getattr(torch, dtype_name))


def transform(model: Module, run: Resolved, ctx: RankContext) -> Module:
    if run["kind"] != "inference":
        return model  # in distillation the teacher is quantized (distillation.py), not the student
    return quantize_model(model, run, DTYPES[run["precision"]], ctx.tools)


def quantized_bytes(values: dict, width: int) -> int:
    """Parameter bytes of the model with its block linears quantized, the rest at `width`
    (after structured pruning, if the scenario prunes)."""
    spec = model_spec(values["model"])
    dense, kept = pruning.block_linear_params(values)  # one block's linear weights and biases
    linear = spec.n_layer * kept
    if values["quantize"] == "int4":  # a scale and a zero per group of inputs
        scales = 2 * linear // INT4_GROUP * width
    else:  # int8: a scale per output channel, about one per input row of the next layer
        scales = spec.n_layer * kept // spec.d_model * width
    rest = spec.n_params - spec.n_layer * dense
    return rest * width + linear * BITS[values["quantize"]] // 8 + scales


def memory_term(values: dict, p):
    if values["kind"] != "inference":
        return p
    width = 4 if values["precision"] == "fp32" else 2
    return add_term(p, values, category="params", name=f"{values['quantize']} weights",
                    nbytes=quantized_bytes(values, width) - p.params_bytes,
                    note="block linears quantized; embeddings, norms, biases unchanged")


def _group_fits(v: dict) -> bool:
    if v["quantize"] != "int4":
        return True
    spec = model_spec(v["model"])  # structured pruning narrows the layers
    how, s = pruning.parse(v["pruning"]) or ("none", 0.0)
    widths = [spec.d_model, 4 * spec.d_model]
    if how == "structured":
        widths = [pruning.kept(spec.n_head, s) * spec.d_model // spec.n_head,
                  pruning.kept(4 * spec.d_model, s)]
    return all(w % INT4_GROUP == 0 for w in [spec.d_model, *widths])


STRATEGY = Strategy(
    name="quantization",
    description="int8 / int4 weight-only quantization for inference (and of a distillation "
                "teacher); compare with bf16/fp32 inference",
    axes=(Axis(name="quantize", type=str, default="none", choices=("none", *BITS),
               help="weight-only quantization of the block linears: int8, int4 (inference or "
                    "a distillation teacher)"),),
    rules=(pruning.needs_gpt_block("quantize", "quantization"),
           Rule(name="int4-group-fits-layers",
                reason=f"int4 quantizes inputs in groups of {INT4_GROUP}: every linear layer's "
                       f"input width must be a multiple",
                excludes=lambda v: not _group_fits(v)),),
    kinds=("inference", "distill"),
    model_transform=transform,
    transform_whole=True,
    memory_term=memory_term,
)
