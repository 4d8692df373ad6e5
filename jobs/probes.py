"""Time and memory probes of one rank, and the statistics the record keeps."""

from __future__ import annotations

import ctypes
import re
import statistics
import time
from pathlib import Path

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", STATUS.read_text(), re.MULTILINE)
    if not match:
        raise RuntimeError(f"{STATUS} has no {field} line; memsweep needs Linux's procfs")
    return int(match.group(1))


def peak_rss_bytes() -> int:
    """The process's resident-set high-water mark (VmHWM) since start or the last reset."""
    return _status_kib("VmHWM") * 1024


def reset_peak_rss() -> bool:
    """Restart VmHWM from the current RSS (Linux >= 4.0: "5" > clear_refs); False if refused.

    Without it the peak includes start-up (imports, DeepSpeed's init), so the timed
    phase's peak is read as "at most" this.
    """
    try:
        CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return _status_kib("VmHWM") <= _status_kib("VmRSS") + 4096  # did it take? (4 MiB of slack)


def synchronize(device: str) -> None:
    if device == "cuda":
        import torch  # heavy: loaded late, in the rank only

        torch.cuda.synchronize()


def reset_device_peaks(device: str) -> None:
    if device == "cuda":
        import torch  # heavy: loaded late, in the rank only

        torch.cuda.reset_peak_memory_stats()


def device_peaks(device: str) -> tuple[int | None, int | None]:
    """(max allocated, max reserved) bytes on this rank's GPU since the reset; None on CPU."""
    if device != "cuda":
        return None, None
    import torch  # heavy: loaded late, in the rank only

    return torch.cuda.max_memory_allocated(), torch.cuda.max_memory_reserved()


def timed(fn, device: str) -> tuple[object, float]:
    """Run `fn`, return (its result, wall seconds); waits for the GPU's queue on both ends."""
    synchronize(device)
    t = time.perf_counter()
    result = fn()
    synchronize(device)
    return result, time.perf_counter() - t


def median_iqr(values: list[float]) -> tuple[float, float]:
    if not values:
        raise ValueError("no timed steps")
    if len(values) < 2:
        return values[0], 0.0
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return statistics.median(values), q3 - q1


def slowest_per_step(per_rank: list[list[float]]) -> list[float]:
    """Step i of a data-parallel job ends when its slowest rank ends: the max over ranks."""
    if len({len(times) for times in per_rank}) != 1:
        raise ValueError(f"ranks timed different step counts: {[len(t) for t in per_rank]}")
    return [max(step) for step in zip(*per_rank, strict=True)]


def rss_bytes() -> int:
    return _status_kib("VmRSS") * 1024


def data_bytes() -> int:
    """VmData: the private writable memory RLIMIT_DATA caps (heap and anonymous mappings,
    touched or not)."""
    return _status_kib("VmData") * 1024


def device_allocated(device: str) -> int | None:
    if device != "cuda":
        return None
    import torch  # heavy: loaded late, in the rank only

    return torch.cuda.memory_allocated()


def trim_host_heap() -> bool:
    """Hand the allocator's free memory back to the kernel (glibc malloc_trim), so that RSS
    counts live bytes at a phase's start; False where there is no glibc."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        return False
    return True


def cv(values: list[float]) -> float:
    """Coefficient of variation (stdev / mean); 0 for fewer than two values."""
    if len(values) < 2:
        return 0.0
    return statistics.stdev(values) / statistics.fmean(values)
