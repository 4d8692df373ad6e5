"""Build DeepSpeed's JIT ops for this machine's accelerator once, before any timed run.

DeepSpeed compiles its ops at first use: on the CPU accelerator its shared-memory
all-reduce and CPU Adam (about two minutes on 2 cores), on a GPU FusedAdam and
CPU Adam; doing it at install time keeps that cost out of the first scenario's
measurements. `--nvme` builds NVMe offload's async I/O op instead: several minutes
more, and only NVMe scenarios use it, so `make demo` leaves it to `make test` (or to
the first NVMe run, which builds it during its warm-up).
"""

from __future__ import annotations

import argparse
import time

# The ops a run can use, per accelerator. On the CPU the worker steps AdamW with torch's own
# (suite/ds_config.py), so FusedAdam is not built there; on a GPU it is DeepSpeed's AdamW,
# and CPU Adam is what optimizer offload steps with.
OPS = {"cpu": ("CPUAdamBuilder", "ShareMemCommBuilder"),
       "cuda": ("FusedAdamBuilder", "CPUAdamBuilder")}
# NVMe offload's (ZeRO-Infinity) I/O engine; it needs libaio (the Makefile's nvme-ops target).
NVME_OPS = ("AsyncIOBuilder",)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jobs.prebuild",
        description="Build DeepSpeed's ops for this accelerator now instead of in the first run.")
    parser.add_argument("--nvme", action="store_true",
                        help="build NVMe offload's async I/O op (needs libaio), not the core ops")
    args = parser.parse_args(argv)

    from deepspeed.accelerator import get_accelerator

    accelerator = get_accelerator()
    ops = NVME_OPS if args.nvme else OPS.get(accelerator._name, OPS["cpu"])
    for op in ops:
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
