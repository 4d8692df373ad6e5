"""Slurm node lists ("gpu[01-03,7],login1") expanded to host names."""

from __future__ import annotations

import re
import shutil
import subprocess

_GROUP = re.compile(r"\[([^\]]*)\]")


def parse_nodelist(nodelist: str) -> list[str]:
    """Expand Slurm's compressed host list; ranges keep their zero padding (node[08-10])."""
    hosts: list[str] = []
    for item in _split_top_level(nodelist.strip()):
        hosts.extend(_expand(item))
    if not hosts:
        raise ValueError(f"empty Slurm node list {nodelist!r}")
    return hosts


def scontrol_hostnames(nodelist: str) -> list[str]:
    """`scontrol show hostnames` where Slurm's tools are here (every syntax), else our parser."""
    scontrol = shutil.which("scontrol")
    if scontrol:
        try:
            out = subprocess.run([scontrol, "show", "hostnames", nodelist], capture_output=True,
                                 text=True, timeout=30, check=True).stdout.split()
            if out:
                return out
        except (OSError, subprocess.SubprocessError):
            pass  # a login-node-only scontrol or a down controller: the parser still works
    return parse_nodelist(nodelist)


def _split_top_level(text: str) -> list[str]:
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return [i for i in items if i]


def _expand(item: str) -> list[str]:
    match = _GROUP.search(item)
    if not match:
        return [item]
    head, tail = item[:match.start()], item[match.end():]
    names = []
    for part in match.group(1).split(","):
        lo, _, hi = part.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            raise ValueError(f"cannot read the range {part!r} in Slurm node list item {item!r}")
        width = len(lo)
        names.extend(f"{head}{n:0{width}d}" for n in range(int(lo), int(hi or lo) + 1))
    return [name + rest for name in names for rest in _expand(tail)]
