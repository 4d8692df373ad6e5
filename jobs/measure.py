"""One rank's phases: their memory peaks, the activation peak, and timing until stable.

Phases are init (model and engine), warmup and timed, then the forward, backward and
step of one untimed probe step after the timed ones, where the ledger is taken too: the
timed steps run with nothing of memsweep between them. Each phase resets the peaks at its
start (VmHWM through /proc/self/clear_refs; torch.cuda.reset_peak_memory_stats). The
probe's phases first hand free heap back to the kernel (malloc_trim), so that a phase's
start RSS is what is live. The phase a rank is in is what an OOM record names.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from contextlib import contextmanager

from jobs import probes
from results.schema import PhasePeak

STABLE_TOL = 0.01  # the median moved less than this (relative) over the last window: stable
PROBE_PHASES = ("forward", "backward", "step")
_current: list[str | None] = [None]


def current_phase() -> str | None:
    return _current[0]


class Phases:
    def __init__(self, device: str, tensors=None) -> None:
        self.device = device
        self.tensors = tensors  # a jobs.peak_probe.PeakProbe: live tensor peaks per phase
        self.peaks: dict[str, PhasePeak] = {}
        self.activation_peak: int | None = None
        self._open: tuple[str, int, int | None, bool] | None = None

    @contextmanager
    def phase(self, name: str):
        self.begin(name)
        try:
            yield
        finally:
            self.end()

    def begin(self, name: str, *, trim: bool = False) -> None:
        self.end()
        _current[0] = name
        probes.synchronize(self.device)
        if trim:
            probes.trim_host_heap()
        reset = probes.reset_peak_rss()
        probes.reset_device_peaks(self.device)
        if self.tensors is not None:
            self.tensors.begin(name)
        self._open = (name, probes.rss_bytes(), probes.device_allocated(self.device), reset)

    def end(self) -> None:
        if self._open is None:
            return
        name, rss0, dev0, reset = self._open
        self._open = None
        probes.synchronize(self.device)
        allocated, reserved = probes.device_peaks(self.device)
        rss = probes.peak_rss_bytes()  # before the tensor probe's labelling walk
        live = self.tensors.end() if self.tensors is not None else None
        peak = PhasePeak(phase=name, host_rss_bytes=rss,
                         host_rss_start_bytes=rss0, host_reset=reset,
                         device_allocated_bytes=allocated, device_reserved_bytes=reserved,
                         device_allocated_start_bytes=dev0, **(live or {}))
        if name == "forward":
            grew = (allocated - dev0) if self.device == "cuda" else peak.host_rss_bytes - rss0
            self.activation_peak = max(self.activation_peak or 0, grew)
        before = self.peaks.get(name)  # a phase repeated (micro-steps): the fullest one
        if before is None or _height(peak) >= _height(before):
            self.peaks[name] = peak

    def mark(self, point: str) -> None:
        """The probe step's hook: `point` ("forward", "backward", "step", "end") begins."""
        if point in PROBE_PHASES:
            self.begin(point, trim=self.device != "cuda")
        else:
            self.end()


def _height(p: PhasePeak) -> int:
    if p.device_allocated_bytes is not None:
        return p.device_allocated_bytes
    return p.tensor_peak_bytes if p.tensor_peak_bytes is not None else p.host_rss_bytes


def tensor_peak(peaks: dict[str, PhasePeak]) -> PhasePeak | None:
    """The probe step's phase with the most live tensor bytes (None: not tracked)."""
    tracked = [p for name, p in peaks.items()
               if name in PROBE_PHASES and p.tensor_peak_bytes is not None]
    return max(tracked, key=lambda p: p.tensor_peak_bytes, default=None)


def timed_steps(step: Callable[[], float], *, minimum: int, maximum: int, device: str,
                agree: Callable[[float], float]) -> tuple[list[float], float, bool | None]:
    """Time `minimum` steps, then more until the median settles or `maximum` steps.

    Returns (seconds per step, the loss of step `minimum`, stable). When the count depends
    on time (maximum > minimum) every step's seconds go through `agree` (the slowest rank's,
    from an all-reduce outside the timed region), so all ranks stop at the same step;
    stable is None for a fixed count. The loss is that of a fixed step: the same on every
    run of a seed, however many steps the rule adds.
    """
    maximum = max(maximum, minimum)
    times: list[float] = []
    loss = math.nan
    for i in range(maximum):
        result, seconds = probes.timed(step, device)
        if i == minimum - 1:
            loss = result
        if maximum == minimum:
            times.append(seconds)
            continue
        times.append(agree(seconds))
        if len(times) >= minimum and settled(times, window=_window(minimum)):
            return times, loss, True
    return times, loss, None if maximum == minimum else False


def _window(minimum: int) -> int:
    return max(3, minimum // 2)


def settled(times: list[float], *, window: int, tol: float = STABLE_TOL) -> bool:
    """The median of all steps moved less than `tol` when the last `window` were added."""
    if len(times) <= window:
        return False
    now, before = statistics.median(times), statistics.median(times[:-window])
    return abs(now - before) <= tol * now


def agree_max(device: str) -> Callable[[float], float]:
    """A collective: every rank gets the largest of the ranks' values."""
    import torch  # heavy: loaded late, in the rank only
    import torch.distributed as dist  # heavy: loaded late, in the rank only

    def agree(seconds: float) -> float:
        if not (dist.is_available() and dist.is_initialized()):
            return seconds
        t = torch.tensor([seconds], dtype=torch.float64,
                         device="cuda" if device == "cuda" else "cpu")
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return float(t.item())

    return agree
