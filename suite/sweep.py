"""Sweep files: TOML read with tomllib, validated with messages naming the key and the fix.

    [sweep]                  name (required), description, repetitions, run settings,
                             deepspeed_base = "file.json" (relative to the sweep file)
    [axes]                   axis = [values...]   (a scalar is one value)
    [[exclude]]              axis = value or [values], reason = "..."

The cartesian product of the axes, minus catalogue rules and `exclude`
entries, is the scenario list, in file order of the axes' values. `[[axes]]`
(an array of tables) instead makes one product per table and takes their union,
in file order, each combination once: an axis a table leaves out takes its
default in that table's product.
"""

from __future__ import annotations

import difflib
import itertools
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from suite import custom_models
from suite.axes import AXES, SWEEP_SET
from suite.errors import UserInputError
from suite.models import encode
from suite.names import check_name
from suite.rules import violated_rule
from suite.scenario import RunSettings, Scenario
from suite.search import SearchSpec, check_search, parse_search

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_SWEEP_KEYS = {"name", "description", "repetitions", *SWEEP_SET.values(),
               *RunSettings.__dataclass_fields__}


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
    scenarios: tuple[Scenario, ...]  # with a search: one per combination, at its `from`
    excluded: tuple[Excluded, ...]
    search: SearchSpec | None = None


_FILE_KEYS = ("sweep", "axes", "exclude", "models", "search")


def load_sweep(path: str | Path) -> Sweep:
    path = Path(path)
    return parse_sweep(read_toml(path), source=str(path), base_dir=path.parent)


def read_toml(path: Path) -> dict:
    """A sweep file's TOML as data; a missing or malformed file is a user error."""
    src = str(path)
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError("no such sweep file", source=src,
                             fix="give the path of a .toml sweep, e.g. suite/sweeps/smoke.toml"
                             ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UserInputError(f"not valid TOML: {e}", source=src,
                             fix="check the line named above") from None


def _unknown(key: str, known, *, source: str, where: str) -> UserInputError:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(sorted(known))}"
    return UserInputError(f"unknown key in {where}", source=source, key=key, fix=hint)


def parse_sweep(data: dict, *, source: str = "<sweep>", base_dir: Path | None = None) -> Sweep:
    for key in data:
        if key not in _FILE_KEYS:
            raise _unknown(key, _FILE_KEYS, source=source, where="the file")
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
    fixed = {"deepspeed_base": (_deepspeed_base(head, source, base_dir),)}
    models = _own_models(data, source)
    search = parse_search(data["search"], source=source) if "search" in data else None
    blocks = [{**_parse_axes(_resolve_models(block, models, source, base_dir, where), source,
                             where), **fixed, **_searched(search, block, source, where)}
              for block, where in _axes_blocks(data, source)]
    rules = _parse_excludes(data.get("exclude", []), source)
    scenarios, excluded = _expand(name, blocks, rules, repetitions, settings)
    axes = {k: tuple(dict.fromkeys(v for b in blocks for v in b[k])) for k in AXES}
    if not scenarios:
        raise UserInputError("every combination is excluded: the sweep has no scenario",
                             source=source, key="exclude",
                             fix="run `memsweep plan` on it to see which rule excludes what")
    if search is not None:
        check_search(search, scenarios, source=source)
    return Sweep(name=name, description=description, source=source, axes=axes,
                 repetitions=repetitions, settings=settings, scenarios=tuple(scenarios),
                 excluded=tuple(excluded), search=search)


def _searched(search: SearchSpec | None, block: dict, source: str, where: str) -> dict:
    """The searched axis's value in each combination: the search's lower end."""
    if search is None:
        return {}
    if search.axis in block:
        raise UserInputError("is searched by [search]; it cannot also be an axis",
                             source=source, key=f"{where}.{search.axis}",
                             fix=f"remove {search.axis} from [{where}] (the search sets it)")
    return {search.axis: (search.lower,)}


def _axes_blocks(data: dict, source: str) -> list[tuple[dict, str]]:
    """[axes] as one table, or [[axes]] as several; each with its name for messages."""
    value = data.get("axes")
    if isinstance(value, list) and value and all(isinstance(b, dict) for b in value):
        return [(b, f"axes[{i}]") for i, b in enumerate(value)]
    return [(_table(data, "axes", source), "axes")]


def _deepspeed_base(head: dict, source: str, base_dir: Path | None) -> str:
    """The user's DeepSpeed JSON named by [sweep] deepspeed_base, as canonical JSON text."""
    if "deepspeed_base" not in head:
        return ""
    key, name = "sweep.deepspeed_base", head["deepspeed_base"]
    fix = 'deepspeed_base = "ds_base.json" (a JSON object; relative to the sweep file)'
    if not isinstance(name, str) or not name or "\x00" in name:
        raise UserInputError("must be the path of a JSON file", source=source, key=key, fix=fix)
    path = (base_dir or Path.cwd()) / name
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise UserInputError(f"cannot read {path}: {e.strerror or e}", source=source, key=key,
                             fix=fix) from None
    except ValueError as e:
        raise UserInputError(f"{path} is not valid JSON: {e}", source=source, key=key,
                             fix="check the line and column named above") from None
    if not isinstance(config, dict):
        raise UserInputError(f"{path} holds a JSON {type(config).__name__}, not an object",
                             source=source, key=key, fix=fix)
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def _own_models(data: dict, source: str) -> dict[str, str]:
    """The sweep's `[models.NAME]` tables, each as the model value spelling its dimensions."""
    table = data.get("models", {})
    if not isinstance(table, dict):
        raise UserInputError("must be a table of tables", source=source, key="models",
                             fix='write [models.mine] with family = "llama", n_layer = ...')
    return {check_name(name, what="models.NAME", source=source):
            encode(custom_models.from_table(name, t, source=source))
            for name, t in table.items()}


def _resolve_models(block: dict, models: dict[str, str], source: str, base_dir: Path | None,
                    where: str) -> dict:
    """`block` with each model value that names a config file or a [models.NAME] replaced by
    the value spelling its dimensions (what run_ids hash: never the path)."""
    if "model" not in block:
        return block
    values = block["model"] if isinstance(block["model"], list) else [block["model"]]

    def resolve(value: object) -> object:
        if isinstance(value, str) and value.startswith("config:"):
            path = (base_dir or Path.cwd()) / value.removeprefix("config:")
            return encode(custom_models.from_hf_config(path, source=source,
                                                       key=f"{where}.model"))
        return models.get(value, value) if isinstance(value, str) else value

    return {**block, "model": [resolve(v) for v in values]}


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


def _parse_axes(table: dict, source: str, where: str = "axes") -> dict[str, tuple]:
    for key in table:
        if key in SWEEP_SET:
            raise UserInputError(f"is set in [sweep], not in [{where}]", source=source,
                                 key=f"{where}.{key}",
                                 fix=f'write {SWEEP_SET[key]} = "file.json" under [sweep]')
        if key not in AXES:
            raise _unknown(key, AXES, source=source, where=f"[{where}]")
    return {name: _check_values(name, table[name], source, where) if name in table
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
            if key != "reason" and (key not in AXES or key in SWEEP_SET):
                raise _unknown(key, [*AXES, "reason"], source=source, where=f"[[{where}]]")
        match = {k: _check_values(k, v, source, where) for k, v in entry.items() if k != "reason"}
        reason = entry.get("reason", f"sweep {where}")
        rules.append((match, f"{where}: {reason}"))
    return rules


def _expand(name, blocks, rules, repetitions, settings):
    scenarios, excluded, seen = [], [], set()
    for combo in (c for axes in blocks for c in itertools.product(*axes.values())):
        values = dict(zip(blocks[0], combo, strict=True))
        if combo in seen:  # [[axes]] tables may overlap: each combination once
            continue
        seen.add(combo)
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
