"""The live-tensor tracker (jobs/live_tensors.py) on plain torch: counts, frees, peaks, views."""

from __future__ import annotations

import torch

from jobs.live_tensors import LiveTensors


def test_counts_storages_once_and_frees_them():
    lt = LiveTensors()
    with lt:
        a = torch.zeros(1000)  # 4000 bytes
        b = torch.ones(2000)  # 8000 bytes
        view = b[:10]  # a view: no new storage
        c = a + 1
        del c  # a temporary: in the peak, not in what is live
        del b  # the view keeps the storage alive
        lt.drain()  # frees are counted at the next op, or here
        assert lt.current["cpu"] == 12000
        assert lt.peak["cpu"] == 16000
    del a, view
    lt.drain()
    assert lt.current["cpu"] == 0  # frees are seen after the mode is left too


def test_reset_snapshot_and_adopt():
    before = torch.ones(250)  # created before the tracker: adopted
    lt = LiveTensors()
    assert lt.adopt([before, before[:5]]) == 1
    with lt:
        lt.reset()
        x = torch.randn(100, requires_grad=True)
        (x * x).sum().backward()  # saved tensors and the gradient pass through ops too
        assert x.grad is not None
    lt.finish()
    assert lt.peak["cpu"] >= 1000 + 400 + 400
    assert sum(n for _, _, n in lt.at_peak["cpu"]) == lt.peak["cpu"]  # the storages at the peak


def test_resize_in_an_op_is_counted():
    lt = LiveTensors()
    with lt:
        t = torch.empty(10)
        t.resize_(1000)
        assert lt.current["cpu"] == 4000
