"""The peak of live tensor bytes per phase, and what it was made of at the peak.

`PeakProbe` runs jobs/live_tensors.py's tracker from before the model is built through
the warm-up, pauses it for the timed steps (they run with nothing of memsweep between
their ops) and resumes it for the untimed probe step, adopting what the timed steps left
live that the model or optimizer reaches. Per phase: the peak on the compute device and
its breakdown into CATEGORIES, labelled at the peak's snapshot, storage by storage:

* params, grads, master_params, optimizer_state: jobs/held.py's categories, then any
  parameter's data or .grad (ZeRO-3's gathered parameters): the bytes their views cover;
* buffers: the rest of a storage reached through such views (a reduce bucket the
  gradients are views of) and any other tensor reachable from the DeepSpeed optimizer's
  attributes (buckets, offload staging) -- a walk, not a list of names;
* activations: what autograd saved in the probe step's forward (jobs/activations.py);
* temporaries: freed before the phase ended (working memory, communication outputs);
* other: still live and none of the above (inputs, model buffers).

The total never depends on these labels. Overhead: one Python call per aten op while the
tracker runs, and a walk of the model and optimizer at each new peak.
"""

from __future__ import annotations

import torch

from jobs.held import held_tensors
from jobs.ledger import _span, _union_length
from jobs.live_tensors import LiveTensors

CATEGORIES = ("params", "grads", "master_params", "optimizer_state", "buffers", "activations",
              "temporaries", "other")


class PeakProbe:
    def __init__(self, device: str) -> None:
        self.device = "cuda" if device == "cuda" else "cpu"
        self.tracker = LiveTensors()
        self.tracker.sample = self._sample
        self.model = self.optimizer = None
        self.activation_uids: set[int] = set()
        self._on = False
        self._open: tuple[str, int] | None = None
        self._samples: dict[int, tuple[str, int]] = {}  # _claims() at the last snapshot

    # -- on and off -------------------------------------------------------------------------
    def start(self) -> None:
        if not self._on:
            self.tracker.__enter__()
            self._on = True
            if self.model is not None:  # what the timed steps left live that the model or
                self.tracker.adopt(self._held())  # the optimizer reaches

    def pause(self) -> None:
        if self._on:
            self.tracker.__exit__(None, None, None)
            self._on = False

    def stop(self) -> None:
        self.pause()

    def attach(self, model, optimizer) -> None:
        """The engine's module and optimizer, whose tensors label the breakdown."""
        self.model, self.optimizer = model, optimizer

    def saw_activations(self, storages_ptrs: set[int]) -> None:
        """Storages autograd saved in a forward (data_ptrs, read when the forward ended)."""
        self.activation_uids |= {uid for uid, ptr, _ in self.tracker.live(self.device)
                                 if ptr in storages_ptrs}

    # -- phases -----------------------------------------------------------------------------
    def begin(self, name: str) -> None:
        self.tracker.reset()
        self._samples = {}
        self._open = (name, self.tracker.current.get(self.device, 0)) if self._on else None

    def end(self) -> dict | None:
        """{tensor_peak_bytes, tensor_start_bytes, tensor_breakdown, host_tensor_peak_bytes}
        of the phase begun last; None when the tracker was off during it."""
        if self._open is None or not self._on:
            self._open = None
            return None
        _, start = self._open
        self._open = None
        self.pause()  # labelling walks tensors: none of it may count
        try:
            self.tracker.finish()
            peak = self.tracker.peak.get(self.device, 0)
            snapshot = self.tracker.at_peak.get(self.device) or self.tracker.live(self.device)
            breakdown = self._breakdown(snapshot)
        finally:
            self.start()
        host = self.tracker.peak.get("cpu") if self.device == "cuda" else None
        return {"tensor_peak_bytes": peak, "tensor_start_bytes": start,
                "tensor_breakdown": breakdown, "host_tensor_peak_bytes": host}

    def _held(self) -> list[torch.Tensor]:
        tensors = [t for ts in held_tensors(self.model, self.optimizer).values() for t in ts]
        return tensors + reachable(self.optimizer) + [b for b in self.model.buffers()]

    def _sample(self) -> None:
        """At each snapshot (a new peak): who holds which live storage now, and how much of it."""
        if self.model is not None:
            self._samples = self._claims()

    def _claims(self) -> dict[int, tuple[str, int]]:
        """{uid: (category, bytes)}: the first category (held.py's order, then the optimizer's
        other tensors as buffers, then parameters' data and .grad) that reaches a storage, and
        the bytes its views cover there; the rest of a storage reached only through views
        (a reduce bucket the gradients are views of) is a buffer."""
        by_ptr = {ptr: uid for uid, ptr, _ in self.tracker.live(self.device)}
        claims: dict[int, tuple[str, list]] = {}
        named = [*held_tensors(self.model, self.optimizer).items(),
                 ("buffers", reachable(self.optimizer)),
                 ("params", [p for p in self.model.parameters()]),
                 ("grads", [p.grad for p in self.model.parameters()])]
        for category, tensors in named:
            for t in tensors:
                uid = _uid(by_ptr, t)
                span = _span(t) if uid is not None else None
                if span is None:
                    continue
                if claims.setdefault(uid, (category, []))[0] == category:
                    claims[uid][1].append(span[1:])
        return {uid: (c, _union_length(spans)) for uid, (c, spans) in claims.items()}

    def _breakdown(self, snapshot: list[tuple[int, int, int]]) -> dict[str, int]:
        live_now = {uid for uid, _, _ in self.tracker.live(self.device)}
        claims = self._samples or (self._claims() if self.model is not None else {})
        totals = dict.fromkeys(CATEGORIES, 0)
        for uid, _, nbytes in snapshot:
            if uid in claims:
                category, covered = claims[uid]
                covered = min(covered, nbytes)
                totals[category] += covered
                totals["buffers"] += nbytes - covered
            elif uid in self.activation_uids:
                totals["activations"] += nbytes
            else:
                totals["other" if uid in live_now else "temporaries"] += nbytes
        return totals


def _uid(by_ptr: dict[int, int], t) -> int | None:
    if not isinstance(t, torch.Tensor) or t.numel() == 0 or t.device.type == "meta":
        return None
    return by_ptr.get(t.untyped_storage().data_ptr())


def reachable(root, depth: int = 6) -> list[torch.Tensor]:
    """Tensors reachable from `root` through lists, tuples, dicts and the attributes of
    DeepSpeed's and torch's optimizer objects (not modules, process groups or the rest)."""
    found, seen, todo = [], set(), [(root, 0)]
    while todo:
        obj, d = todo.pop()
        if id(obj) in seen or d > depth:
            continue
        seen.add(id(obj))
        if isinstance(obj, torch.Tensor):
            found.append(obj)
            if obj.grad is not None:
                found.append(obj.grad)
        elif isinstance(obj, dict):
            todo += [(v, d + 1) for v in obj.values()]
        elif isinstance(obj, (list, tuple, set)):
            todo += [(v, d + 1) for v in obj]
        elif _walkable(obj):
            todo += [(v, d + 1) for v in vars(obj).values()]
    return found


def _walkable(obj) -> bool:
    module = type(obj).__module__ or ""
    return (hasattr(obj, "__dict__") and not isinstance(obj, torch.nn.Module)
            and module.startswith(("deepspeed.runtime", "torch.optim")))
