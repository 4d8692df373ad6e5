"""The sweep axes: every scenario parameter, its type, allowed values and default.

A sweep file's `[axes]` table may name any of these; an axis it leaves out
takes its default. Adding a strategy means adding its axis here, its rules in
`suite/rules.py`, and its effect where the worker applies it.
"""

from __future__ import annotations

from dataclasses import dataclass

from suite.models import MODELS


@dataclass(frozen=True, kw_only=True)
class Axis:
    name: str
    type: type
    default: object
    help: str
    choices: tuple | None = None  # allowed values; None = any value of `type` >= minimum
    minimum: int | None = None

    def problem(self, value: object) -> str | None:
        """Why `value` is not allowed on this axis, or None if it is."""
        if type(value) is not self.type:  # bool is not int, int is not str
            return f"expected {self.type.__name__}, got {type(value).__name__} {value!r}"
        if self.choices is not None and value not in self.choices:
            return f"{value!r} is not one of {', '.join(map(repr, self.choices))}"
        if self.minimum is not None and value < self.minimum:
            return f"{value!r} is below the minimum {self.minimum}"
        return None


AXES: dict[str, Axis] = {
    a.name: a
    for a in (
        Axis(name="model", type=str, default="tiny", choices=tuple(MODELS),
             help="model size from the catalogue (`memsweep models`)"),
        Axis(name="world_size", type=int, default=1, minimum=1,
             help="data-parallel ranks (MPI processes) for the scenario"),
        Axis(name="zero_stage", type=int, default=0, choices=(0, 1, 2, 3),
             help="DeepSpeed ZeRO stage: 1 shards optimizer states, 2 +gradients, 3 +parameters"),
        Axis(name="offload_optimizer", type=str, default="none", choices=("none", "cpu"),
             help="ZeRO-Offload: keep optimizer states (and the step) on the host"),
        Axis(name="precision", type=str, default="fp32", choices=("fp32", "bf16", "fp16"),
             help="training precision; bf16/fp16 keep an fp32 master copy"),
        Axis(name="optimizer", type=str, default="adamw", choices=("adamw", "sgd"),
             help="optimizer: AdamW keeps 2 states per parameter, SGD none"),
        Axis(name="micro_batch", type=int, default=4, minimum=1,
             help="sequences per rank per micro-step"),
        Axis(name="seq_len", type=int, default=64, minimum=2,
             help="tokens per sequence (at most the model's max_seq_len)"),
        Axis(name="grad_accum", type=int, default=1, minimum=1,
             help="micro-steps accumulated per optimizer step"),
        Axis(name="device", type=str, default="cpu", choices=("cpu", "cuda"),
             help="where the ranks compute: cpu (gloo) or cuda (nccl)"),
    )
}
