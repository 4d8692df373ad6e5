"""Running out of memory as a result: the scenario's host cap, and what an `oom` record says.

The cap is RLIMIT_DATA, set in each rank before the model is built: it limits the rank's
private writable memory (heap and anonymous mappings, touched or not; VmData), so an
allocation past it fails in the allocator and torch raises a RuntimeError ("can't allocate
memory") that the worker catches and records. RLIMIT_AS would also count file mappings
and address space reserved but never usable (malloc's per-thread arenas, CUDA's huge
reservations: a CUDA process cannot even start under it); a cgroup limit (Slurm's
memory.max) makes the kernel kill the rank with SIGKILL instead, which slurm/outcome.py
records `oom` from outside.

Under the cap, glibc is told to map every allocation of MMAP_THRESHOLD or more on its own
(mallopt M_MMAP_THRESHOLD, which also stops glibc raising that threshold as it sees large
frees): freeing such a tensor gives its address space back, so VmData follows the live
tensors and the cap counts them, not the allocator's high-water mark. Without it, ZeRO-3's
gathers and releases left ~9 bytes per parameter of freed heap in VmData (GPT, 26.5M
parameters, 2 ranks: 660-689 MiB above the tensor peak instead of 453-460;
`memsweep bench-runtime`). Large tensors then cost fresh pages at each allocation.
"""

from __future__ import annotations

import ctypes
import re
import resource

from jobs import probes
from results.schema import OomInfo, replace
from suite.units import parse_bytes

_CPU_REQUEST = re.compile(r"tried to allocate (\d+) bytes")
_CUDA_REQUEST = re.compile(r"Tried to allocate ([\d.]+) (GiB|MiB|KiB|B)")
_UNIT = {"GiB": 2**30, "MiB": 2**20, "KiB": 2**10, "B": 1}
MMAP_THRESHOLD = 2**20
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)


def apply_host_cap(cap: str) -> int | None:
    """Cap this process's allocations at `cap` ("4GiB"); the cap in bytes, None for no cap."""
    if not cap:
        return None
    limit = parse_bytes(cap, key="host_mem_cap")
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    map_large_allocations()
    return limit


def map_large_allocations() -> bool:
    """Allocations of MMAP_THRESHOLD or more get their own mapping, returned when freed (see
    the module's note); False where the C library is not glibc."""
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except (OSError, AttributeError):
        return False


def lift_host_cap() -> None:
    """Back to the hard limit: writing the record must not fail for the same reason."""
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    resource.setrlimit(resource.RLIMIT_DATA, (hard, hard))


def is_device_oom(error: BaseException) -> bool:
    return type(error).__name__ == "OutOfMemoryError" or "CUDA out of memory" in str(error)


def data_bytes() -> int | None:
    """VmData now (the worker reads it first thing after a failure, before the cap is lifted)."""
    return _or_none(probes.data_bytes)


def oom_info(error: BaseException, *, rank: int, phase: str | None, device: str,
             host_cap: int | None, host_reached: int | None = None,
             allocations: dict[str, int] | None = None) -> OomInfo:
    """Where and how far: CUDA's allocated peak against the GPU, or VmData against the cap
    (`host_reached`, read when the error was caught; now if not given). `allocations`:
    {what: bytes} the configuration sizes; the one the failed request matches is named."""
    info = _oom_info(error, rank=rank, phase=phase, device=device, host_cap=host_cap,
                     host_reached=host_reached)
    asked = info.requested_bytes
    # CUDA's message rounds ("1.86 GiB"): a match within 1 %
    named = [what for what, n in (allocations or {}).items()
             if asked is not None and abs(n - asked) <= max(4096, n // 100)]
    return replace(info, allocation=named[0]) if named else info


def _oom_info(error: BaseException, *, rank: int, phase: str | None, device: str,
              host_cap: int | None, host_reached: int | None) -> OomInfo:
    text = str(error)
    rss = _or_none(probes.peak_rss_bytes)
    if device == "cuda" and is_device_oom(error):
        import torch  # heavy: loaded late, in the rank only

        match = _CUDA_REQUEST.search(text)
        return OomInfo(rank=rank, phase=phase, kind="device",
                       reached_bytes=torch.cuda.max_memory_allocated(),
                       limit_bytes=torch.cuda.get_device_properties(
                           torch.cuda.current_device()).total_memory,
                       requested_bytes=int(float(match.group(1)) * _UNIT[match.group(2)])
                       if match else None, peak_host_rss_bytes=rss)
    match = _CPU_REQUEST.search(text)
    reached = host_reached if host_reached is not None else data_bytes()
    return OomInfo(rank=rank, phase=phase, kind="host", reached_bytes=reached,
                   limit_bytes=host_cap, requested_bytes=int(match.group(1)) if match else None,
                   peak_host_rss_bytes=rss)


def _or_none(probe) -> int | None:
    try:
        return probe()
    except (OSError, RuntimeError):
        return None
