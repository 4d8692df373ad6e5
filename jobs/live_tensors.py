"""Live tensor bytes of one process, counted as torch's dispatcher creates storages.

`LiveTensors` is a TorchDispatchMode: after every aten op it registers the storages of
the op's outputs it has not seen yet, and a weak reference on each storage removes it
when torch frees it. Every tensor the rank allocates through torch (DeepSpeed's flat
buffers, partitions, reduce buckets, CPU Adam's states, gloo's outputs, autograd's
saved tensors and temporaries) passes through an op, so the count needs no list of
who holds what; `adopt()` adds storages that existed before it started (tensors the caller
names). `peak` is the most live bytes per device type since `reset()`, the
CPU counterpart of torch.cuda.max_memory_allocated; `at_peak` the storages live then.

Not seen: memory torch does not allocate (numpy, DeepSpeed's C++ scratch, gloo's
internal buffers) and a storage resized outside an op (`untyped_storage().resize_`),
which is counted at its size when an op next returns it. Overhead: one Python call per
op (jobs/peak_probe.py keeps it out of the timed steps).
"""

from __future__ import annotations

import itertools
import weakref

import torch
import torch._dynamo  # noqa: F401  (why: below)
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

# torch._dynamo is loaded with this module, not on the mode's first op: that may fall inside
# deepspeed.zero.Init, which patches torch.Tensor.__new__, and dynamo's first import then fails
# its own signature check.


class LiveTensors(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1)
        # id(storage) -> (uid, device type, data_ptr, nbytes, weakref); uid orders allocations
        self._live: dict[int, tuple[int, str, int, int, weakref.ref]] = {}
        self.current: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self._rising: set[str] = set()  # device types whose peak rose since the last snapshot
        self.at_peak: dict[str, list[tuple[int, int, int]]] = {}  # device -> [(uid, ptr, nbytes)]
        self.sample = None  # called at each snapshot: a user's look at who holds what then
        self._pending: list[tuple[int, int]] = []  # frees not yet counted (see drain)
        self._draining = False

    # -- dispatch ---------------------------------------------------------------------------
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.drain()
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self.see(t)
        return out

    def see(self, t: torch.Tensor) -> None:
        """Count `t`'s storage if it is new (or grew); a no-op for one already counted."""
        try:
            st = t.untyped_storage()
        except (RuntimeError, NotImplementedError):  # a subclass without storage
            return
        n = st.nbytes()
        key = id(st)
        entry = self._live.get(key)
        if entry is not None:
            uid, dev, ptr, old, ref = entry
            if ref() is st and old == n and ptr == st.data_ptr():
                return
            if ref() is st:  # resized in place: the new size, from now on
                self._live[key] = (uid, dev, st.data_ptr(), n, ref)
                self._add(dev, n - old)
                return
        if n == 0 or st.device.type == "meta":
            return
        dev = st.device.type
        uid = next(self._ids)
        # The callback runs inside torch's deallocation: it only notes the free (touching
        # tensors there crashes the process); drain() counts it before the next op's outputs.
        ref = weakref.ref(st, lambda _r, key=key, uid=uid: self._pending.append((key, uid)))
        self._live[key] = (uid, dev, st.data_ptr(), n, ref)
        self._add(dev, n)

    def drain(self) -> None:
        """Count the frees noted since the last call, in order."""
        if self._draining:  # sample() looks at live() from inside a free: the state before it
            return
        self._draining = True
        try:
            while self._pending:
                self._free(*self._pending.pop(0))
        finally:
            self._draining = False

    def _free(self, key: int, uid: int) -> None:
        entry = self._live.get(key)
        if entry is None or entry[0] != uid:
            return
        self._snapshot_if_rising(entry[1])  # a free after a rise: the rise was a local peak
        del self._live[key]
        self._add(entry[1], -entry[3])

    def _add(self, dev: str, n: int) -> None:
        now = self.current.get(dev, 0) + n
        self.current[dev] = now
        if now > self.peak.get(dev, 0):
            self.peak[dev] = now
            self._rising.add(dev)

    def _snapshot_if_rising(self, dev: str) -> None:
        if dev in self._rising:
            self._rising.discard(dev)
            self.at_peak[dev] = [(e[0], e[2], e[3]) for e in self._live.values() if e[1] == dev]
            if self.sample is not None:
                self.sample()

    # -- phases -----------------------------------------------------------------------------
    def adopt(self, tensors) -> int:
        """Count the storages of `tensors` not counted yet (created before the tracker or while
        it was paused); how many. Not the garbage collector's every tensor: touching a tensor
        torch keeps alive from C++ only can crash the process."""
        before = len(self._live)
        for t in tensors:
            self.see(t)
        return len(self._live) - before

    def reset(self) -> None:
        """Peaks restart from what is live now."""
        self.drain()
        self.peak = dict(self.current)
        self._rising = set(self.current)
        self.at_peak = {}

    def finish(self) -> None:
        """The snapshot at the peak, if the peak is the state now (no free since)."""
        self.drain()
        for dev in list(self._rising):
            self._snapshot_if_rising(dev)

    def live(self, dev: str) -> list[tuple[int, int, int]]:
        self.drain()
        return [(e[0], e[2], e[3]) for e in self._live.values() if e[1] == dev]

    @property
    def last_uid(self) -> int:
        """The uid of the newest storage counted so far (uids increase with allocation)."""
        return max((e[0] for e in self._live.values()), default=0)
