"""Build DeepSpeed's JIT ops for this machine's accelerator once, into this installation.

DeepSpeed compiles its ops at first use: on the CPU accelerator its shared-memory
all-reduce and CPU Adam (about two minutes on 2 cores), on a GPU FusedAdam and
CPU Adam. `make install` builds them here, into the installation's own folder
(jobs/ops.py: <venv>/torch_extensions), where every run looks for them; a run never
builds one (it ends `failed`, naming the op). `--nvme` builds NVMe offload's async I/O
op instead: several minutes more, and only NVMe scenarios use it, so `make demo` leaves
it to `make test`.
"""

from __future__ import annotations

import argparse
import os
import time

from jobs import ops

# The ops a run can use, per accelerator. On the CPU the worker steps AdamW with torch's own
# (suite/ds_config.py), so FusedAdam is not built there; on a GPU it is DeepSpeed's AdamW,
# and CPU Adam is what optimizer offload steps with.
OPS = {"cpu": (ops.CPU_ADAM, ops.SHM_COMM), "cuda": (ops.FUSED_ADAM, ops.CPU_ADAM)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jobs.prebuild",
        description="Build DeepSpeed's ops for this accelerator into this installation "
                    "(DS_ACCELERATOR chooses the accelerator).")
    parser.add_argument("--nvme", action="store_true",
                        help="build NVMe offload's async I/O op (needs libaio), not the core ops")
    args = parser.parse_args(argv)
    os.environ[ops.ENV] = str(ops.extensions_dir())  # before torch reads it
    # Late import: deepspeed picks its accelerator at import, from DS_ACCELERATOR.
    from deepspeed.accelerator import get_accelerator

    accelerator = get_accelerator()
    wanted = ops.NVME if args.nvme else OPS.get(accelerator._name, OPS["cpu"])
    print(f"prebuild: into {ops.extensions_dir()}")
    for op in wanted:
        builder = accelerator.create_op_builder(op)
        if builder is None or not builder.is_compatible(verbose=False):
            print(f"prebuild: {op} not available for {accelerator._name}; skipped")
            continue
        t = time.perf_counter()
        builder.load(verbose=False)
        print(f"prebuild: {op} ready ({time.perf_counter() - t:.1f}s)")
    # A run checks the same way before it starts: what was just built must pass that check.
    if left := ops.missing(wanted):
        print(f"prebuild: {', '.join(left)} built but a run's check still finds it out of date")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
