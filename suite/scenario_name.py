"""A scenario's name for people: what differs from the catalogue's defaults.

    base · 2 ranks · zero_stage=3 + offload_optimizer=cpu
    small · 2 ranks · seq 128 · baseline
    tiny · 1 rank · inference · quantize=int8

The model and the ranks always, then the other workload axes away from their
default, then the strategy: the strategy axes away from their default, in
catalogue order, joined by " + " ("baseline" when there is none). An axis that
is a setting of a strategy, not a choice of one (`names_strategy=False`, e.g.
nvme_path), is not named. The report (analysis/labels.py), `memsweep run`'s
progress lines and `memsweep status` all name a scenario so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import suite.axes  # looked up on each call: a test may add an axis

BASELINE = "baseline"
SEP = " · "
_WORKLOAD = {"micro_batch": "micro-batch {}", "seq_len": "seq {}", "grad_accum": "grad-accum {}"}
_LONG = 24  # characters: a longer value (a DeepSpeed JSON) is named by its hash


def naming_axes() -> tuple[str, ...]:
    """The strategy axes whose values name the strategy, in catalogue order."""
    return tuple(a for a in suite.axes.STRATEGY_AXES if suite.axes.AXES[a].names_strategy)


def strategy_label(values: Mapping[str, object]) -> str:
    """`zero_stage=3 + offload_optimizer=cpu`; an axis missing from `values` (or NaN, from a
    frame with gaps) is at its default."""
    parts = [f"{name}={_show(values[name])}" for name in naming_axes()
             if _away(name, values)]
    return " + ".join(parts) or BASELINE


def scenario_name(values: Mapping[str, object], *, repetition: int | None = None) -> str:
    """`base · 2 ranks · zero_stage=3 + offload_optimizer=cpu` (· `rep 1` when given)."""
    ranks = int(values.get("world_size", suite.axes.AXES["world_size"].default))
    words = [str(values.get("model", suite.axes.AXES["model"].default)),
             f"{ranks} rank{'s' * (ranks != 1)}"]
    for name in suite.axes.WORKLOAD_AXES:
        if name not in ("model", "world_size") and _away(name, values):
            words.append(_WORKLOAD.get(name, "{}").format(_short(name, values[name])))
    words.append(strategy_label(values))
    if repetition is not None:
        words.append(f"rep {repetition}")
    return SEP.join(words)


def _away(name: str, values: Mapping[str, object]) -> bool:
    value = values.get(name)
    missing = value is None or (isinstance(value, float) and value != value)
    return not missing and value != suite.axes.AXES[name].default


def _show(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # an int axis read back through a frame column with gaps
    return str(value)


def _short(name: str, value: object) -> str:
    text = _show(value)
    if len(text) <= _LONG:
        return text
    return f"{name} #{hashlib.sha1(text.encode()).hexdigest()[:6]}"
