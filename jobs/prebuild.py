"""Build DeepSpeed's JIT ops for this machine's accelerator once, before any timed run.

DeepSpeed compiles its ops at first use: on the CPU accelerator its shared-memory
all-reduce and CPU Adam (about two minutes on 2 cores), on a GPU FusedAdam and
CPU Adam; doing it at install time keeps that cost out of the first scenario's
measurements.
"""

from __future__ import annotations

import time

# The ops a run can use, per accelerator. On the CPU the worker steps AdamW with torch's own
# (suite/ds_config.py), so FusedAdam is not built there; on a GPU it is DeepSpeed's AdamW,
# and CPU Adam is what optimizer offload steps with.
# AsyncIOBuilder is NVMe offload's (ZeRO-Infinity) I/O engine; it needs libaio (Makefile).
OPS = {"cpu": ("CPUAdamBuilder", "ShareMemCommBuilder", "AsyncIOBuilder"),
       "cuda": ("FusedAdamBuilder", "CPUAdamBuilder", "AsyncIOBuilder")}


def main() -> int:
    from deepspeed.accelerator import get_accelerator

    accelerator = get_accelerator()
    for op in OPS.get(accelerator._name, OPS["cpu"]):
        builder = accelerator.create_op_builder(op)
        if builder is None or not builder.is_compatible(verbose=False):
            print(f"prebuild: {op} not available for {accelerator._name}; skipped")
            continue
        t = time.perf_counter()
        builder.load(verbose=False)
        print(f"prebuild: {op} ready ({time.perf_counter() - t:.1f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
