"""The memory a scenario's rank may use, when `plan --predict` is not told (--capacity).

On the CPU: the scenario's host_mem_cap where it sets one (what the worker enforces),
else this machine's RAM shared by the ranks of one node. On a GPU: the GPU's memory,
which a plan made away from the cluster cannot read: 80 GiB (an A100/H100), unless the
command line says otherwise.
"""

from __future__ import annotations

import os

from suite.units import parse_bytes

GPU_DEFAULT_BYTES = 80 * 2**30


def host_memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def default_capacity(scenario) -> tuple[int, str]:
    """(bytes per rank, where the figure comes from) for a `suite.scenario.Scenario`."""
    if str(scenario["device"]) != "cpu":
        return GPU_DEFAULT_BYTES, "GPU memory (80 GiB default)"
    if scenario.settings.host_mem_cap:
        return parse_bytes(scenario.settings.host_mem_cap, key="host_mem_cap"), "host_mem_cap"
    ranks = max(1, int(scenario["world_size"]))  # one node: the ranks share its RAM
    return host_memory_bytes() // ranks, f"host RAM / {ranks} rank(s)"
