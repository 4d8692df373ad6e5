"""The sweep axes: every scenario parameter, its type, allowed values and default.

A sweep file's `[axes]` table may name any of these; an axis it leaves out takes
its default. The workload axes (what is run, on how many ranks, where) are here;
every strategy's axes come from its catalogue entry (suite/strategies/), whose
defaults are "strategy off". Adding a strategy adds its axes here by itself.
"""

from __future__ import annotations

import json

from suite.models import MODELS, decode
from suite.strategies import strategy_axes
from suite.strategy_spec import SCENARIO_KINDS, Axis

__all__ = ["AXES", "Axis", "STRATEGY_AXES", "WORKLOAD_AXES", "SWEEP_SET"]


def _check_json(value: object) -> str | None:
    if value == "":
        return None
    try:
        parsed = json.loads(str(value))
    except ValueError:
        parsed = None
    return None if isinstance(parsed, dict) else "not a JSON object"



def _model_problem(value: str) -> str | None:
    if value in MODELS or decode(value):
        return None
    return f"{value!r} is not a catalogue size ({', '.join(MODELS)})"


WORKLOAD: tuple[Axis, ...] = (
    Axis(name="model", type=str, default="tiny", check=_model_problem,
         values="a catalogue size (`memsweep models`) | config:PATH | a [models.NAME] name",
         help="model: a size from the catalogue (`memsweep models`), a Hugging Face config "
              "(\"config:path/config.json\") or a name from the sweep's [models.NAME]"),
    Axis(name="world_size", type=int, default=1, minimum=1,
         help="data-parallel ranks (MPI processes) for the scenario"),
    Axis(name="micro_batch", type=int, default=4, minimum=1,
         help="sequences per rank per micro-step"),
    Axis(name="seq_len", type=int, default=64, minimum=2,
         help="tokens per sequence (at most the model's max_seq_len)"),
    Axis(name="grad_accum", type=int, default=1, minimum=1,
         help="micro-steps accumulated per optimizer step"),
    Axis(name="device", type=str, default="cpu", choices=("cpu", "cuda"),
         help="where the ranks compute: cpu (gloo) or cuda (nccl)"),
    Axis(name="kind", type=str, default="train", choices=SCENARIO_KINDS,
         help="train (DeepSpeed), inference (no_grad forward passes) or distill (a student "
              "trained on a frozen teacher's logits)"),
    Axis(name="deepspeed_base", type=str, default="", check=_check_json,
         values="set by [sweep] deepspeed_base = \"file.json\"",
         help="the user's DeepSpeed JSON that strategies modify (from [sweep] deepspeed_base)"),
)
# Axes a sweep sets in [sweep], not in [axes] (their values are file contents, not names).
SWEEP_SET = {"deepspeed_base": "deepspeed_base"}

AXES: dict[str, Axis] = {a.name: a for a in (*WORKLOAD, *strategy_axes())}
WORKLOAD_AXES: tuple[str, ...] = tuple(a.name for a in WORKLOAD)
STRATEGY_AXES: tuple[str, ...] = tuple(a.name for a in strategy_axes())  # analysis/labels.py

if len(AXES) != len(WORKLOAD) + len(STRATEGY_AXES):  # pragma: no cover
    raise ValueError("two axes share a name")
