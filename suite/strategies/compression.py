"""Model compression: named presets that combine pruning, quantization and distillation.

A preset sets the other strategies' axes (`implies`); everything downstream --
rules, DeepSpeed config, transforms, the memory model -- sees the values it set.
A sweep that also sets one of those axes to something else is refused (rule).
"""

from __future__ import annotations

from suite.strategy_spec import Axis, Rule, Strategy

PRESETS: dict[str, tuple[str, dict]] = {  # name -> (kind, the axes it sets)
    "pruned-int8": ("inference", {"pruning": "structured-50", "quantize": "int8"}),
    "pruned-int4": ("inference", {"pruning": "structured-50", "quantize": "int4"}),
    "distilled-pruned": ("distill", {"pruning": "structured-50", "teacher": "self"}),
    "distilled-pruned-int8-teacher": ("distill", {"pruning": "structured-50", "teacher": "self",
                                                  "quantize": "int8"}),
}


def implies(values: dict) -> dict:
    return dict(PRESETS[values["compression"]][1]) if values["compression"] != "none" else {}


STRATEGY = Strategy(
    name="compression",
    description="named presets combining structured pruning, int8/int4 quantization and "
                "distillation from the dense model",
    axes=(Axis(name="compression", type=str, default="none", choices=("none", *PRESETS),
               help="compression preset: " + "; ".join(
                   f"{n} = {k}: {', '.join(f'{a}={v}' for a, v in s.items())}"
                   for n, (k, s) in PRESETS.items())),),
    rules=(Rule(name="compression-preset-kind",
                reason="the preset is for another scenario kind (pruned-int*: inference, "
                       "distilled-*: distill)",
                excludes=lambda v: v["compression"] != "none"
                and PRESETS[v["compression"]][0] != v["kind"]),),
    kinds=("inference", "distill"),
    implies=implies,
)
