"""Promise 6: input is data. Names are validated before they reach a path or a command line,
every record and log path stays inside the output root, and no configuration can make
memsweep evaluate, unpickle or import anything.

The sweep parser and the sbatch renderer are fuzzed with hostile strings in
tests/suite/test_fuzz_sweep.py and tests/slurm/test_fuzz_sbatch.py; this adds path
containment (property-based) and a scan of the package sources.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from results.store import log_path, logs_dir, record_path, runs_dir
from slurm.launch import build_launch
from suite.errors import UserInputError
from suite.sweep import parse_sweep

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("suite", "jobs", "slurm", "results", "analysis")  # pyproject's packages
# The documented name rule (README, suite/names.py): 1-64 letters, digits, '.', '_' or '-',
# starting with a letter or digit, no "..". Restated here so that a refusal can be checked.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
VALID = st.from_regex(NAME, fullmatch=True).filter(lambda s: ".." not in s)
HOSTILE = st.one_of(
    st.text(max_size=80),
    st.text(alphabet="./\\-_~$`'\"\n\x00 abc", max_size=20),
    st.sampled_from(["..", "../x", "a/../../b", "/etc/passwd", "~root", ".hidden", "a\x00b",
                     "x\n#SBATCH --uid=0", "$(reboot)", "a" * 65, "-rf", "a..b", "a/b"]),
    VALID,  # and names that must be accepted
)


def valid(name: str) -> bool:
    return bool(NAME.fullmatch(name)) and ".." not in name


def inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


@settings(max_examples=500, deadline=None)
@given(run_id=HOSTILE)
def test_record_and_log_paths_of_any_run_id_stay_in_the_output_root(tmp_path_factory, run_id):
    root = tmp_path_factory.getbasetemp() / "out"
    try:
        paths = record_path(root, run_id), log_path(root, run_id)
    except UserInputError:
        assert not valid(run_id)  # refused: only what the rule refuses
        return
    assert valid(run_id)
    assert paths[0] == runs_dir(root) / f"{run_id}.json" and inside(paths[0], root)
    assert paths[1] == logs_dir(root) / f"{run_id}.log" and inside(paths[1], root)


@settings(max_examples=300, deadline=None)
@given(run_id=HOSTILE)
def test_a_run_id_reaches_the_command_line_whole_or_not_at_all(run_id):
    try:
        launch = build_launch(mpiexec="mpiexec", python="python", world_size=2, device="cpu",
                              plan=Path("/o/plan.json"), run_id=run_id, out=Path("/o"),
                              attempt=1, cores=2, environ={})
    except UserInputError:
        assert not valid(run_id)
        return
    assert valid(run_id)
    assert launch.argv[launch.argv.index("--run-id") + 1] == run_id  # one argument, no shell


@settings(max_examples=300, deadline=None)
@given(name=HOSTILE)
def test_a_sweep_name_makes_its_default_folder_inside_out_or_is_refused(tmp_path_factory, name):
    out = tmp_path_factory.getbasetemp() / "cwd" / "out"
    try:
        sweep = parse_sweep({"sweep": {"name": name}, "axes": {"model": "tiny"}})
    except UserInputError:
        assert not valid(name)
        return
    assert valid(name) and sweep.name == name
    folder = out / sweep.name  # `memsweep run` without --out: out/<sweep name>
    assert inside(folder, out) and folder.resolve() != out.resolve()
    for scenario in sweep.scenarios:  # every path of every run under it
        assert inside(record_path(folder, scenario.run_id), folder)
        assert inside(log_path(folder, scenario.run_id), folder)


# What a configuration must never drive: code evaluation, unpickling, dynamic imports, shells.
CALLS = {"eval", "exec", "compile", "__import__", "breakpoint"}
MODULES = {"pickle", "_pickle", "cPickle", "marshal", "shelve", "dill", "cloudpickle",
           "jsonpickle", "joblib", "yaml", "ruamel", "importlib", "runpy", "code", "imp"}
ALLOWED_MODULES = {"importlib.metadata"}  # versions of installed packages for fingerprints
ATTRIBUTES = {("torch", "load"), ("os", "system"), ("os", "popen"), ("pickle", "loads"),
              ("importlib", "import_module"), ("yaml", "load"), ("yaml", "unsafe_load")}


def findings(source: str, name: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, name)):
        where = f"{name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name) and f.id in CALLS:
                found.append(f"{where}: {f.id}()")
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and \
                    (f.value.id, f.attr) in ATTRIBUTES:
                found.append(f"{where}: {f.value.id}.{f.attr}()")
            if any(k.arg == "shell" and not (isinstance(k.value, ast.Constant) and
                                             k.value.value is False) for k in node.keywords):
                found.append(f"{where}: shell=")
        modules = []
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module]
            if node.module == "importlib":  # `from importlib import metadata` is the same
                modules = [f"importlib.{a.name}" for a in node.names]
        for module in modules:
            allowed = any(module == a or module.startswith(f"{a}.") for a in ALLOWED_MODULES)
            if not allowed and module.split(".")[0] in MODULES:
                found.append(f"{where}: import {module}")
    return found


def test_no_package_source_evaluates_unpickles_or_imports_anything_dynamically():
    sources = sorted(p for package in PACKAGES for p in (REPO / package).rglob("*.py"))
    assert len(sources) > 50
    found = [hit for p in sources
             for hit in findings(p.read_text(encoding="utf-8"), str(p.relative_to(REPO)))]
    assert found == []


@pytest.mark.parametrize("line", [
    "eval(name)", "exec(code)", "__import__(name)", "import pickle", "from yaml import load",
    "import importlib", "from importlib import import_module", "importlib.import_module(x)",
    "torch.load(path)", "os.system(cmd)", "subprocess.run(cmd, shell=True)",
    "yaml.load(text)", "import marshal",
])
def test_the_scan_finds_each_thing_it_looks_for(line):
    assert findings(line, "x.py"), line


def test_the_scan_lets_version_lookups_and_method_calls_through():
    ok = "from importlib import metadata\nimport importlib.metadata\nmodel.eval()\n" \
         "subprocess.run(argv, shell=False)\njson.loads(text)\ntomllib.loads(text)\n"
    assert findings(ok, "x.py") == []
