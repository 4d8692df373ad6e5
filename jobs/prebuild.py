"""Build DeepSpeed's JIT ops for this machine's accelerator once, before any timed run.

On the CPU accelerator DeepSpeed compiles its shared-memory all-reduce and
CPU Adam at first use (about two minutes on 2 cores); doing it at install time
keeps that cost out of the first scenario's measurements.
"""

from __future__ import annotations

import time

OPS = ("CPUAdamBuilder", "ShareMemCommBuilder")


def main() -> int:
    from deepspeed.accelerator import get_accelerator

    accelerator = get_accelerator()
    for op in OPS:
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
