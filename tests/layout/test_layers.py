"""The layers of DESIGN.md hold in the source: no import cycle, no import against the layer
order, no function-level import but a heavy dependency deliberately loaded late (a project
module counts as heavy when its own imports load torch, deepspeed, pandas, matplotlib, ...).

The first tests check the checker on small made-up trees; the last three check memsweep.
"""

from __future__ import annotations

import functools
import textwrap
from pathlib import Path

import pytest
from import_graph import (
    all_imports,
    cycles,
    describe_cycle,
    edges,
    late_violations,
    layer_violations,
    package_files,
)

ROOT = Path(__file__).resolve().parents[2]
def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    for pkg in {Path(n).parts[0] for n in files}:
        (tmp_path / pkg / "__init__.py").touch()
    return tmp_path


def _report(root: Path):
    imports = all_imports(root)
    graph = edges(imports, set(package_files(root)))
    return imports, [describe_cycle(c) for c in cycles(graph)]


def test_finds_a_cycle_hidden_in_a_function(tmp_path):
    root = _tree(tmp_path, {
        "jobs/train.py": "from jobs.inference import infer\n",
        "jobs/inference.py": "def infer():\n    from jobs.train import train\n",
    })
    imports, found = _report(root)
    assert len(found) == 1
    assert "jobs.inference -> jobs.train -> jobs.inference" in found[0]
    assert "jobs/inference.py:2: `from jobs.train import train`" in found[0]
    [late] = late_violations(imports)
    assert "jobs/inference.py:2" in late and "project module jobs.train" in late


def test_from_package_import_submodule_and_relative_imports(tmp_path):
    root = _tree(tmp_path, {
        "suite/strategies/__init__.py": "from . import zero\n",
        "suite/strategies/zero.py": "from ..memory_model import X\n",
        "suite/memory_model.py": "from suite.strategies import zero\n",
    })
    _, found = _report(root)
    assert len(found) == 1
    assert "suite.memory_model -> suite.strategies.zero -> suite.memory_model" in found[0]


def test_a_package_init_that_imports_is_part_of_the_graph(tmp_path):
    root = _tree(tmp_path, {
        "suite/strategies/__init__.py": "import suite.strategy\n",
        "suite/strategies/zero.py": "X = 1\n",
        "suite/strategy.py": "from suite.strategies.zero import X\n",
    })
    _, found = _report(root)
    assert len(found) == 1
    assert "runs suite.strategies's __init__.py first" in found[0]


def test_layer_order(tmp_path):
    root = _tree(tmp_path, {
        "suite/a.py": "import results.store\n",
        "results/store.py": "from suite import a\n",
        "jobs/w.py": "from analysis.tidy import f  # sibling\n",
        "analysis/tidy.py": "import slurm\n",
        "slurm/s.py": "from jobs import w\nfrom reliability import c\n",
        "memsweep/cli.py": "import slurm.s, jobs.w, analysis.tidy, results.store, suite.a\n",
        "memsweep/selftest.py": "from reliability import c\nfrom bench import h\n",
        "reliability/c.py": "import bench.h\nimport slurm.s\n",
        "bench/h.py": "import memsweep.cli\n",
    })
    found = layer_violations(all_imports(root))
    where = sorted(v.split(" — ")[0] for v in found)
    assert where == [
        "analysis/tidy.py:1: `import slurm`",
        "bench/h.py:1: `import memsweep.cli`",
        "jobs/w.py:1: `from analysis.tidy import f  # sibling`",
        "reliability/c.py:1: `import bench.h`",
        "slurm/s.py:2: `from reliability import c`",
        "suite/a.py:1: `import results.store`",
    ]
    assert any("suite may import only no other package" in v for v in found)


def test_late_imports_need_a_comment(tmp_path):
    root = _tree(tmp_path, {"jobs/p.py": """\
        import os

        def a():
            import torch  # heavy: loaded late, only when a run starts

        def b():
            # deepspeed is heavy and must see DS_ACCELERATOR first
            from deepspeed import init_distributed

        def c():
            import shutil

        def d():
            # torch and deepspeed load late: the command line need not pay for them
            import torch
            from deepspeed import initialize

            import json

        class K:
            import json

            def m(self):
                from torch import (
                    nn,
                )
        """})
    found = late_violations(all_imports(root))
    assert [v.split(" — ")[0] for v in found] == [
        "jobs/p.py:11: `import shutil`", "jobs/p.py:18: `import json`",
        "jobs/p.py:24: `from torch import (`"]
    assert "deliberately late" in found[0]


def test_a_project_module_may_be_late_only_when_it_loads_something_heavy(tmp_path):
    root = _tree(tmp_path, {
        "analysis/report.py": "import analysis.style\n",
        "analysis/style.py": "import matplotlib.pyplot\n",
        "suite/errors.py": "import sys\n",
        "memsweep/cmds.py": """\
            def report():
                from analysis.report import make  # heavy: pandas and matplotlib, late

            def bare():
                from analysis.report import make

            def light():
                from suite.errors import Error  # late
            """,
    })
    found = late_violations(all_imports(root))
    assert [v.split(" — ")[0] for v in found] == [
        "memsweep/cmds.py:5: `from analysis.report import make`",
        "memsweep/cmds.py:8: `from suite.errors import Error  # late`"]
    assert "analysis.report (it loads matplotlib) without a comment" in found[0]
    assert "project module suite.errors, which loads nothing heavy" in found[1]


@functools.cache
def _imports():
    return all_imports(ROOT)


def _violations(kind: str) -> list[str]:
    imports = _imports()
    if kind == "cycles":
        return [describe_cycle(c) for c in cycles(edges(imports, set(package_files(ROOT))))]
    return layer_violations(imports) if kind == "layers" else late_violations(imports)


def _fail(found: list[str], what: str) -> None:
    if found:
        pytest.fail(f"{len(found)} {what}:\n" + "\n".join(found), pytrace=False)


def test_no_import_cycles():
    _fail(_violations("cycles"), "import cycles (break each by moving the shared code down)")


def test_imports_follow_the_layer_order():
    _fail(_violations("layers"), "imports against the layer order")


def test_no_function_level_imports_but_deliberately_late_ones():
    _fail(_violations("late"), "function-level imports")
