"""docs/commands.md from the parser: `python -m memsweep.docgen > docs/commands.md`.

The page is the `--help` of memsweep and of every subcommand, formatted at a fixed width so
that the output does not depend on the terminal; tests/layout/test_docs.py fails when the
page in the tree differs from what this prints.
"""

from __future__ import annotations

import argparse
import functools
import sys

from memsweep.cli import build_parser

WIDTH = 100  # columns of the help text, whatever the terminal (COLUMNS) says
REGENERATE = "python -m memsweep.docgen > docs/commands.md"


def subcommands(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """`parser` and every parser below it, depth first, in the order they were added."""
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):  # aliases share a parser
                found += subcommands(child)
    return found


def help_text(parser: argparse.ArgumentParser) -> str:
    parser.formatter_class = functools.partial(parser.formatter_class, width=WIDTH)
    return parser.format_help().rstrip()


def _anchor(prog: str) -> str:
    return prog.replace(" ", "-")


def commands_md() -> str:
    parsers = subcommands(build_parser())
    contents = " · ".join(f"[{p.prog}](#{_anchor(p.prog)})" for p in parsers)
    parts = [
        "# Command reference",
        "",
        "<!-- Generated from the parser (memsweep/cli.py and memsweep/*_cmds.py); do not edit.",
        f"     Regenerate: {REGENERATE}",
        f"     (Python {sys.version_info.major}.{sys.version_info.minor}, "
        f"{WIDTH} columns) -->",
        "",
        "The `--help` of `memsweep` and of each subcommand, as the command prints it. The "
        "overview of the commands, with their exit codes, is in the [README](../README.md).",
        "",
        contents,
    ]
    for p in parsers:
        parts += ["", f"## {p.prog}", "", "```text", help_text(p), "```"]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    sys.stdout.write(commands_md())
