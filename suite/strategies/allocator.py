"""Dynamic memory allocation: PyTorch's CUDA caching-allocator settings, and memory timelines.

`cuda_alloc_conf` is PYTORCH_CUDA_ALLOC_CONF's syntax (expandable_segments,
max_split_size_mb, garbage_collection_threshold, roundup_power2_divisions), set in
each rank before the model is built. With MEMSWEEP_MEMORY_SNAPSHOT=DIR in the
environment a GPU rank records its allocator history over the run and writes
DIR/<run_id>-rank<N>.pickle (open it at pytorch.org/memory_viz); the record names
the file. Both are CUDA's: the CPU allocator has neither.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from suite.resolved import Resolved
from suite.strategies.hardware import supports
from suite.strategy_spec import Axis, RankContext, Rule, Strategy

SNAPSHOT_ENV = "MEMSWEEP_MEMORY_SNAPSHOT"
KEYS = {"expandable_segments": r"True|False", "max_split_size_mb": r"[1-9][0-9]*",
        "garbage_collection_threshold": r"0?\.[0-9]+", "roundup_power2_divisions": r"[1-9][0-9]*"}


def _check(value: object) -> str | None:
    if value == "":
        return None
    for item in str(value).split(","):
        key, _, setting = item.partition(":")
        if key not in KEYS or not re.fullmatch(KEYS[key], setting):
            return (f"{item!r} is not one of {', '.join(f'{k}:<{p}>' for k, p in KEYS.items())}"
                    f" (comma-separated)")
    return None


def prepare(run: Resolved, ctx: RankContext) -> None:
    if ctx.device != "cuda":
        return
    import torch  # heavy: torch loads late, in the rank only

    if run["cuda_alloc_conf"]:
        torch.cuda.memory._set_allocator_settings(run["cuda_alloc_conf"])
    if os.environ.get(SNAPSHOT_ENV):
        torch.cuda.memory._record_memory_history(max_entries=100_000)


def observe(run: Resolved, config: dict, ctx: RankContext) -> dict:
    folder = os.environ.get(SNAPSHOT_ENV)
    if ctx.device != "cuda" or not folder:
        return {}
    import torch  # heavy: torch loads late, in the rank only

    path = Path(folder) / f"{ctx.run_id}-rank{ctx.rank}.pickle"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.cuda.memory._dump_snapshot(str(path))
    torch.cuda.memory._record_memory_history(enabled=None)
    return {"memory_snapshot": str(path)}


STRATEGY = Strategy(
    name="allocator",
    description="PyTorch CUDA allocator settings (expandable segments, max split size, GC "
                "threshold); memory timeline snapshots on request",
    axes=(Axis(name="cuda_alloc_conf", type=str, default="", check=_check,
               values='"" (torch\'s defaults) or PYTORCH_CUDA_ALLOC_CONF, e.g. '
                      'expandable_segments:True',
               help="CUDA caching-allocator settings in PYTORCH_CUDA_ALLOC_CONF syntax"),),
    rules=(Rule(name="allocator-needs-cuda",
                reason="allocator settings configure PyTorch's CUDA caching allocator: the "
                       "device must be cuda",
                excludes=lambda v: v["cuda_alloc_conf"] != ""
                and not supports(v["device"], "allocator")),),
    prepare=prepare,
    observe=observe,
)
