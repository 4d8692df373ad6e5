"""Activation bytes by torch's own accounting: what autograd saves for backward in a forward.

Every tensor autograd saves passes through `saved_tensors_hooks`' pack hook; their
storages, counted once each (jobs/ledger.py's union of spans) and without the
model's parameters (a matmul saves its weight), are the activations the forward
leaves for backward. Checkpointed blocks save through checkpoint's own hooks
(innermost wins): only what checkpointing keeps is counted here -- not the block
inputs it holds itself, s·b·h per checkpointed block. Deterministic, unlike the
host RSS peak on a CPU.
"""

from __future__ import annotations

from jobs.ledger import count


class ActivationMeter:
    """start() before a forward, stop() after it; `peak_bytes` is the most any forward saved."""

    def __init__(self, model) -> None:
        self.model = model
        self.peak_bytes: int | None = None
        self.saved_ptrs: set[int] = set()  # storages the last forward saved (jobs/peak_probe.py)
        self._saved: list = []
        self._hooks = None

    def start(self) -> None:
        import torch  # heavy: loaded late, in the rank only

        self._saved, self._parameter = [], torch.nn.Parameter
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)
        self._hooks.__enter__()

    def _pack(self, tensor):
        if tensor.numel() and not isinstance(tensor, self._parameter):
            # Parameters' storages as they are now: ZeRO-3 gathers a partitioned parameter
            # into a new storage for the forward (and a saved weight may be a view of one).
            params = {p.untyped_storage().data_ptr() for p in self.model.parameters()
                      if p.numel()}
            if tensor.untyped_storage().data_ptr() not in params:
                self._saved.append(tensor)
        return tensor

    def stop(self) -> None:
        if self._hooks is None:
            return
        self._hooks.__exit__(None, None, None)
        self._hooks = None
        saved = count({"params": self._saved}).params_bytes
        self.saved_ptrs = {t.untyped_storage().data_ptr() for t in self._saved}
        self._saved = []
        self.peak_bytes = max(self.peak_bytes or 0, saved)
