"""The catalogue itself: one entry per strategy, defaults are "off", nobody else names one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from memsweep.cli import main
from suite.axes import AXES, STRATEGY_AXES, WORKLOAD_AXES
from suite.rules import RULES
from suite.strategies import STRATEGIES, active, effective, strategy_axes
from suite.strategy_spec import Axis, merge

REPO = Path(__file__).resolve().parents[2]
TABLE_ROWS = {"data-parallel", "zero", "offload", "checkpointing", "precision", "optimizer",
              "buckets", "batching", "async", "pruning", "quantization", "distillation",
              "compression", "allocator", "hardware", "tensor-parallel",
              "sequence-parallel",
              "pipeline"}


def test_every_row_of_the_strategy_table_is_one_entry():
    assert {s.name for s in STRATEGIES} == TABLE_ROWS
    assert len(STRATEGIES) == len(TABLE_ROWS)


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: s.name)
def test_each_entry_is_complete_and_off_by_default(strategy):
    assert strategy.description and "\n" not in strategy.description
    assert strategy.axes or strategy.uses, "a strategy is swept on some axis"
    assert all(u in WORKLOAD_AXES for u in strategy.uses)
    defaults = {a.name: a.default for a in AXES.values()}
    assert not strategy.active(defaults)  # the default scenario is the baseline
    for axis in strategy.axes:
        assert axis.problem(axis.default) is None, axis.name


def test_axes_are_workload_plus_every_strategys_own():
    assert tuple(AXES) == (*WORKLOAD_AXES, *STRATEGY_AXES)
    assert STRATEGY_AXES == tuple(a.name for a in strategy_axes())
    assert {"kind", "model", "world_size", "device"} <= set(WORKLOAD_AXES)


def test_rule_names_are_unique_and_every_strategy_rule_is_in_RULES():
    names = [r.name for r in RULES]
    assert len(names) == len(set(names))
    for s in STRATEGIES:
        assert {r.name for r in s.rules} <= set(names)


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {f"{node.module}.{a.name}" for a in node.names} | {node.module}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


def test_no_module_outside_the_catalogue_imports_a_strategy():
    modules = {f"suite.strategies.{p.stem}" for p in (REPO / "suite/strategies").glob("*.py")
               if p.stem != "__init__"}
    for folder in ("suite", "jobs", "results", "slurm", "analysis"):
        for path in (REPO / folder).rglob("*.py"):
            if "strategies" in path.relative_to(REPO).parts[:2]:
                continue
            assert not _imports(path) & modules, f"{path} names a strategy module"


def test_the_catalogue_imports_without_torch():
    import subprocess
    import sys

    code = ("import sys, suite.axes, suite.rules, suite.ds_config, suite.explain; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_presets_resolve_into_the_axes_they_set():
    values = {a.name: a.default for a in AXES.values()} | {"kind": "inference",
                                                           "compression": "pruned-int8"}
    eff = effective(values)
    assert eff["pruning"] == "structured-50" and eff["quantize"] == "int8"
    assert {s.name for s in active(values)} == {"pruning", "quantization", "compression"}


def test_merge_deep_merges_and_none_deletes():
    base = {"a": {"b": 1, "c": 2}, "d": 3, "e": 4}
    assert merge(base, {"a": {"c": 5}, "d": None, "f": 6}) == {"a": {"b": 1, "c": 5}, "e": 4,
                                                                "f": 6}
    assert base["a"] == {"b": 1, "c": 2}  # not modified


def test_axis_describes_its_values():
    assert Axis(name="x", type=int, default=0, minimum=0, help="h").describe() == "int >= 0"
    assert Axis(name="x", type=str, default="a", choices=("a", "b"), help="h").describe() == \
        "a | b"


def test_memsweep_strategies_lists_every_strategy_axis_and_rule(capsys):
    assert main(["strategies"]) == 0
    out = capsys.readouterr().out
    for s in STRATEGIES:
        assert f"{s.name}: {s.description}" in out
        for a in s.axes:
            assert f"axis {a.name} = " in out
        for r in s.rules:
            assert f"rule {r.name}: {r.reason}" in out
