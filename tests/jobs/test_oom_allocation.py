"""An OOM record names the allocation that failed when the configuration sized it."""

from __future__ import annotations

from jobs.oom import oom_info
from suite.peak_model import named_allocations
from suite.scenario import Scenario


def test_the_default_reduce_bucket_is_named():
    default = Scenario.from_values(sweep="t", values={"model": "125m", "world_size": 2,
                                                      "zero_stage": 2}).values
    error = RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate "
                         "2000000000 bytes. Error code 12 (Cannot allocate memory)")
    info = oom_info(error, rank=0, phase="backward", device="cpu", host_cap=2**31,
                    host_reached=2**31, allocations=named_allocations(default))
    assert info.allocation and info.allocation.startswith("reduce bucket")
    other = RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate "
                         "154389504 bytes.")
    assert oom_info(other, rank=0, phase="warmup", device="cpu", host_cap=2**31,
                    allocations=named_allocations(default)).allocation is None
