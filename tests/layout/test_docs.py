"""The docs a newcomer reads: a short README that links into docs/, and a command reference
that is what the commands print."""

from __future__ import annotations

import difflib
import re
import sys
from pathlib import Path

import pytest

from memsweep.cli import build_parser, main
from memsweep.docgen import REGENERATE, WIDTH, commands_md, subcommands

ROOT = Path(__file__).resolve().parents[2]
PAGES = ("sweeps", "strategies", "measurement", "slurm", "results", "guarantees",
         "architecture", "commands")
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")


def test_command_reference_is_current():
    page = (ROOT / "docs" / "commands.md").read_text()
    made_with = re.search(r"\(Python (\d+)\.(\d+), ", page)
    if made_with and tuple(map(int, made_with.groups())) != sys.version_info[:2]:
        pytest.skip(f"docs/commands.md was generated with Python {'.'.join(made_with.groups())}, "
                    f"whose argparse formats help differently from this one")
    made = commands_md()
    if page != made:
        diff = difflib.unified_diff(page.splitlines(), made.splitlines(), "docs/commands.md",
                                    "the parser", lineterm="", n=1)
        pytest.fail(f"docs/commands.md is stale: run `{REGENERATE}`\n"
                    + "\n".join(list(diff)[:40]), pytrace=False)


@pytest.mark.parametrize("prog", [p.prog for p in subcommands(build_parser())])
def test_command_reference_is_what_help_prints(prog, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", str(WIDTH + 2))  # argparse keeps 2 columns free
    with pytest.raises(SystemExit) as done:
        main(prog.split()[1:] + ["--help"])
    assert done.value.code == 0
    block = f"## {prog}\n\n```text\n{capsys.readouterr().out.rstrip()}\n```"
    assert block in commands_md()


def test_readme_is_short_and_links_every_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200, "README.md is over 200 lines: move the rest to docs/"
    linked = {m.group(1) for m in LINK.finditer(readme)}
    missing = [p for p in PAGES if f"docs/{p}.md" not in linked]
    assert not missing, f"README.md does not link docs/{{{','.join(missing)}}}.md"


@pytest.mark.parametrize("page", ["README.md"] + [f"docs/{p}.md" for p in PAGES])
def test_relative_links_resolve(page):
    path = ROOT / page
    broken = [m.group(1) for m in LINK.finditer(path.read_text())
              if "://" not in m.group(1) and not (path.parent / m.group(1)).exists()]
    assert not broken, f"{page} links to files that do not exist: {broken}"


PACKAGES = "suite|results|jobs|analysis|slurm|memsweep|reliability|bench"
PATH = re.compile(rf"`((?:{PACKAGES}|tests|docs)/[\w./-]*)`")  # `slurm/local.py`, `suite/sweeps/`
MODULE = re.compile(rf"`(?:python -m )?((?:{PACKAGES})\.[\w.]+)")  # `results.load`, `jobs.worker`
FILE_SUFFIX = re.compile(r"\.(py|toml|json|sh|md|conf)$")  # `slurm.conf` is a file, not a module


def _is_module(dotted: str) -> bool:
    parts = dotted.split(".")  # a module, or a module and a name in it (`slurm.local.run_sweep`)
    return any((ROOT / Path(*parts[:n])).with_suffix(".py").exists()
               or (ROOT / Path(*parts[:n]) / "__init__.py").exists()
               for n in range(len(parts), 1, -1))


@pytest.mark.parametrize("page", ["README.md"] + [f"docs/{p}.md" for p in PAGES])
def test_named_files_and_modules_exist(page):
    text = (ROOT / page).read_text()
    gone = [p for p in PATH.findall(text) if not (ROOT / p).exists()]
    gone += [m for m in MODULE.findall(text) if not FILE_SUFFIX.search(m) and not _is_module(m)]
    assert not gone, (f"{page} names files or modules that do not exist (moved or renamed?): "
                      f"{gone}")
