"""Sweep files: TOML read with tomllib, validated with messages naming the key and the fix.

    [sweep]                  name (required), description, repetitions, run settings
    [axes]                   axis = [values...]   (a scalar is one value)
    [[exclude]]              axis = value or [values], reason = "..."

The cartesian product of the axes, minus catalogue rules and `exclude`
entries, is the scenario list, in file order of the axes' values.
"""

from __future__ import annotations

import difflib
import itertools
import sys
from dataclasses import dataclass
from pathlib import Path

from suite.axes import AXES
from suite.errors import UserInputError
from suite.names import check_name
from suite.rules import violated_rule
from suite.scenario import RunSettings, Scenario

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_SWEEP_KEYS = {"name", "description", "repetitions", *RunSettings.__dataclass_fields__}


@dataclass(frozen=True, kw_only=True)
class Excluded:
    values: dict
    reason: str  # the rule name or the sweep's exclude entry


@dataclass(frozen=True, kw_only=True)
class Sweep:
    name: str
    description: str
    source: str
    axes: dict[str, tuple]
    repetitions: int
    settings: RunSettings
    scenarios: tuple[Scenario, ...]
    excluded: tuple[Excluded, ...]


def load_sweep(path: str | Path) -> Sweep:
    path = Path(path)
    src = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError("no such sweep file", source=src,
                             fix="give the path of a .toml sweep, e.g. suite/sweeps/smoke.toml"
                             ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UserInputError(f"not valid TOML: {e}", source=src,
                             fix="check the line named above") from None
    return parse_sweep(data, source=src)


def _unknown(key: str, known, *, source: str, where: str) -> UserInputError:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(sorted(known))}"
    return UserInputError(f"unknown key in {where}", source=source, key=key, fix=hint)


def parse_sweep(data: dict, *, source: str = "<sweep>") -> Sweep:
    for key in data:
        if key not in ("sweep", "axes", "exclude"):
            raise _unknown(key, ("sweep", "axes", "exclude"), source=source, where="the file")
    head = _table(data, "sweep", source)
    for key in head:
        if key not in _SWEEP_KEYS:
            raise _unknown(f"sweep.{key}", [f"sweep.{k}" for k in _SWEEP_KEYS], source=source,
                           where="[sweep]")
    if "name" not in head:
        raise UserInputError("missing", source=source, key="sweep.name",
                             fix='add name = "my-sweep" under [sweep]')
    name = check_name(head["name"], what="sweep.name", source=source)
    description = head.get("description", "")
    if not isinstance(description, str):
        raise UserInputError("must be a string", source=source, key="sweep.description")
    repetitions = head.get("repetitions", 1)
    if type(repetitions) is not int or repetitions < 1:
        raise UserInputError(f"must be an integer >= 1, got {repetitions!r}", source=source,
                             key="sweep.repetitions", fix="write e.g. repetitions = 3")
    try:
        settings = RunSettings(**{k: v for k, v in head.items()
                                  if k in RunSettings.__dataclass_fields__})
    except UserInputError as e:
        raise UserInputError(str(e).split(": ", 1)[-1], source=source, key=f"sweep.{e.key}",
                             fix=e.fix) from None
    axes = _parse_axes(_table(data, "axes", source), source)
    rules = _parse_excludes(data.get("exclude", []), source)
    scenarios, excluded = _expand(name, axes, rules, repetitions, settings)
    if not scenarios:
        raise UserInputError("every combination is excluded: the sweep has no scenario",
                             source=source, key="exclude",
                             fix="run `memsweep plan` on it to see which rule excludes what")
    return Sweep(name=name, description=description, source=source, axes=axes,
                 repetitions=repetitions, settings=settings, scenarios=tuple(scenarios),
                 excluded=tuple(excluded))


def _table(data: dict, key: str, source: str) -> dict:
    value = data.get(key)
    if not isinstance(value, dict):
        raise UserInputError("missing or not a table", source=source, key=key,
                             fix=f"add a [{key}] table (see suite/sweeps/smoke.toml)")
    return value


def _check_values(key: str, values, source: str, where: str) -> tuple:
    values = values if isinstance(values, list) else [values]
    if not values:
        raise UserInputError("empty axis: it would make no scenario", source=source,
                             key=f"{where}.{key}",
                             fix=f"give at least one value, or remove it to use the default "
                                 f"{AXES[key].default!r}")
    for v in values:
        if why := AXES[key].problem(v):
            raise UserInputError(why, source=source, key=f"{where}.{key}",
                                 fix=AXES[key].help)
    if len(set(values)) != len(values):
        raise UserInputError("repeated value", source=source, key=f"{where}.{key}",
                             fix="list each value once (use sweep.repetitions to repeat)")
    return tuple(values)


def _parse_axes(table: dict, source: str) -> dict[str, tuple]:
    for key in table:
        if key not in AXES:
            raise _unknown(key, AXES, source=source, where="[axes]")
    return {name: _check_values(name, table[name], source, "axes") if name in table
            else (axis.default,) for name, axis in AXES.items()}


def _parse_excludes(entries, source: str) -> list[tuple[dict, str]]:
    if not isinstance(entries, list):
        raise UserInputError("must be an array of tables", source=source, key="exclude",
                             fix="write each rule as [[exclude]] followed by axis = value lines")
    rules = []
    for i, entry in enumerate(entries):
        where = f"exclude[{i}]"
        if not isinstance(entry, dict) or not set(entry) - {"reason"}:
            raise UserInputError("must name at least one axis", source=source, key=where,
                                 fix='e.g. [[exclude]] zero_stage = 0  offload_optimizer = "cpu"')
        for key in entry:
            if key != "reason" and key not in AXES:
                raise _unknown(key, [*AXES, "reason"], source=source, where=f"[[{where}]]")
        match = {k: _check_values(k, v, source, where) for k, v in entry.items() if k != "reason"}
        reason = entry.get("reason", f"sweep {where}")
        rules.append((match, f"{where}: {reason}"))
    return rules


def _expand(name, axes, rules, repetitions, settings):
    scenarios, excluded = [], []
    for combo in itertools.product(*axes.values()):
        values = dict(zip(axes, combo, strict=True))
        rule = violated_rule(values)
        reason = rule and f"{rule.name}: {rule.reason}"
        reason = reason or next((why for match, why in rules
                                 if all(values[k] in vs for k, vs in match.items())), None)
        if reason:
            excluded.append(Excluded(values=values, reason=reason))
            continue
        scenarios.extend(Scenario.from_values(sweep=name, values=values, repetition=r,
                                              settings=settings) for r in range(repetitions))
    return scenarios, excluded
