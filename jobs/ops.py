"""DeepSpeed's compiled ops: which a scenario loads, where this installation keeps them, and
whether they are built, found out without building anything.

DeepSpeed compiles an op at its first `load()` through torch.utils.cpp_extension: torch
writes a ninja file into TORCH_EXTENSIONS_DIR/<op>/ and runs ninja there, which recompiles
whenever a source or the compile command (compiler flags, include paths) differs from the
last build. Sharing that folder between two installations (torch's default is one per user,
~/.cache/torch_extensions) makes each rebuild the other's op; a build inside a run takes
minutes and gigabytes, and under a run's memory cap the compiler is killed and the run looks
`oom`. So every memsweep process uses its installation's own folder (`extensions_dir`),
`make install` builds into it (jobs/prebuild.py), and a run checks first (`require`): an op
ninja would have to build ends the run `failed` with `OpNotBuilt` before anything is capped.

The check writes the ninja file DeepSpeed's jit_load would have torch write (same arguments,
torch's own writer, into a temporary file) and asks `ninja -n` in the op's folder whether
anything is out of date: ninja's own answer, with its log of past commands, changes nothing.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

ENV = "TORCH_EXTENSIONS_DIR"
FIX = "run `make install`"
# What each op's builder is called by DeepSpeed's accelerator (create_op_builder).
SHM_COMM, CPU_ADAM, FUSED_ADAM = "ShareMemCommBuilder", "CPUAdamBuilder", "FusedAdamBuilder"
# AsyncIO's load() loads PinMemory first (DeepSpeed's cpu/async_io.py): both or neither.
NVME = ("PinMemoryBuilder", "AsyncIOBuilder")


class OpNotBuilt(RuntimeError):
    """An op this run would have to compile; the message names it and the fix."""

    def __init__(self, ops: list[str]) -> None:
        self.ops = tuple(ops)
        names = ", ".join(ops)
        super().__init__(f"DeepSpeed op{'s' if len(ops) > 1 else ''} {names} "
                         f"{'are' if len(ops) > 1 else 'is'} not built for this installation "
                         f"({extensions_dir()}): {FIX}")


def not_built(reason: str | None) -> bool:
    """A record's reason says the run ended for an op not built (the worker's OpNotBuilt)."""
    return bool(reason) and reason.startswith(f"{OpNotBuilt.__name__}: ")


def extensions_dir(prefix: str = sys.prefix) -> Path:
    """This installation's compiled ops: inside its (virtual) environment, shared with no other."""
    return Path(prefix) / "torch_extensions"


def needed(values: Mapping) -> tuple[str, ...]:
    """The op builders a scenario's run loads (suite/strategies: optimizer.py, offload.py)."""
    device, offload = values["device"], values.get("offload_optimizer", "none")
    adamw = values.get("optimizer", "adamw") == "adamw"
    ops: list[str] = []
    if device == "cpu":
        ops.append(SHM_COMM)  # deepspeed.init_distributed's shared-memory all-reduce
    if adamw and offload != "none":
        ops.append(CPU_ADAM)  # DeepSpeedCPUAdam steps the offloaded states
    elif adamw and device == "cuda":
        ops.append(FUSED_ADAM)
    if "nvme" in (offload, values.get("offload_param", "none")):
        ops.extend(NVME)
    return tuple(ops)


def missing(builders: tuple[str, ...]) -> list[str]:
    """The ops (by their folder name) of `builders` a load would compile now; DeepSpeed must be
    importable with its accelerator chosen (DS_ACCELERATOR) and ENV set."""
    # heavy, late: deepspeed picks its accelerator at import (jobs/dist.py) and costs seconds
    from deepspeed.accelerator import get_accelerator
    from deepspeed.git_version_info import accelerator_name, installed_ops  # heavy: late, as above

    ask_cpu_once()
    accelerator, out = get_accelerator(), []
    for name in builders:
        builder = accelerator.create_op_builder(name)
        if builder is None or not builder.is_compatible(verbose=False):
            continue  # not a build: DeepSpeed's own load refuses it with its reason
        if installed_ops.get(builder.name) and accelerator_name == accelerator._name:
            continue  # compiled into DeepSpeed's wheel (DS_BUILD_OPS): imported, never built
        if not up_to_date(builder, Path(os.environ.get(ENV) or extensions_dir()) / builder.name):
            out.append(builder.name)
    return out


def require(values: Mapping) -> None:
    """Raise OpNotBuilt if this scenario's run would compile an op."""
    if absent := missing(needed(values)):
        raise OpNotBuilt(absent)


def ask_cpu_once() -> None:
    """Make py-cpuinfo answer once per process. DeepSpeed's CPU op builders ask it twice for
    each build file (cpu_arch and simd_width: -march and the SIMD flags), each time in a new
    Python process of its own (1.5 s at load ~9): the check's build file of CPU Adam and then
    the op's load asked 4 times per rank. The CPU does not change under a running process."""
    import cpuinfo  # heavy: runs `file` and `uname` at import; late, as deepspeed

    if not hasattr(cpuinfo.get_cpu_info, "cache_info"):
        cpuinfo.get_cpu_info = functools.cache(cpuinfo.get_cpu_info)


def up_to_date(builder, folder: Path) -> bool:
    """`folder` holds `builder`'s op as its jit load would build it now: ninja has nothing to do."""
    if not (folder / "build.ninja").is_file():
        return False
    with tempfile.TemporaryDirectory(prefix="memsweep-ops-") as tmp:
        build_file = Path(tmp) / "build.ninja"
        write_build_file(builder, build_file)
        # -n: a dry run, which neither runs a command nor writes ninja's logs.
        done = subprocess.run(["ninja", "-C", str(folder), "-f", str(build_file), "-n"],
                              capture_output=True, text=True, check=False)
    return done.returncode == 0 and "no work to do" in done.stdout


def write_build_file(builder, path: Path) -> None:
    """The ninja file torch would write for DeepSpeed's `builder.jit_load()`, at `path`.

    The arguments are jit_load's (deepspeed/ops/op_builder/builder.py) and the preparation
    torch's load() gives them before its writer (_jit_compile and
    _write_ninja_file_and_build_library): private functions of torch's, pinned by the
    Makefile's torch; tests/jobs/test_ops.py checks the result against a real build."""
    import torch  # heavy: late, as in `missing`
    from deepspeed.ops.op_builder.builder import CUDAOpBuilder  # heavy: late, as above
    from torch.utils import cpp_extension as ext  # heavy: late, as above

    cuda_builder = isinstance(builder, CUDAOpBuilder)
    saved, builder.jit_mode = builder.jit_mode, True  # as jit_load: it changes the CUDA args
    try:
        if cuda_builder and not builder.is_rocm_pytorch():
            builder.build_for_cpu = not torch.cuda.is_available()
        sources = [os.path.abspath(builder.deepspeed_src_path(p)) for p in builder.sources()]
        includes = [os.path.abspath(builder.deepspeed_src_path(p))
                    for p in builder.include_paths()]
        cxx = [*builder.strip_empty_entries(builder.cxx_args()), "-UC10_USE_GLOG"]
        nvcc = [*builder.strip_empty_entries(builder.nvcc_args()), "-UC10_USE_GLOG"]
        if cuda_builder and not builder.build_for_cpu and builder.enable_bf16:
            cxx.append("-DBF16_AVAILABLE")
            nvcc += ["-DBF16_AVAILABLE", "-U__CUDA_NO_BFLOAT16_OPERATORS__",
                     "-U__CUDA_NO_BFLOAT162_OPERATORS__", "-U__CUDA_NO_BFLOAT16_CONVERSIONS__"]
        with_cuda = True if cuda_builder and not builder.build_for_cpu else None
        ldflags = builder.strip_empty_entries(builder.extra_ldflags())
    finally:
        builder.jit_mode = saved
    sources = builder.strip_empty_entries(sources)
    if with_cuda is None:
        with_cuda = any(map(ext._is_cuda_file, sources))
    with_sycl = any(map(ext._is_sycl_file, sources))
    ext._write_ninja_file_to_build_library(
        path=str(path), name=builder.name, sources=sources, extra_cflags=cxx,
        extra_cuda_cflags=nvcc, extra_sycl_cflags=[],
        extra_ldflags=ext._prepare_ldflags(ldflags, with_cuda, with_sycl, False, False),
        extra_include_paths=builder.strip_empty_entries(includes), with_cuda=with_cuda,
        with_sycl=with_sycl, is_standalone=False)


def main(argv: list[str] | None = None) -> int:
    """`python -m jobs.ops --device D BUILDER...`: prints the missing ops as JSON (a launcher's
    check before a sweep, in a process of its own: DeepSpeed's import stays out of memsweep)."""
    p = argparse.ArgumentParser(prog="python -m jobs.ops", description=main.__doc__)
    p.add_argument("--device", required=True, help="DeepSpeed accelerator (cpu, cuda)")
    p.add_argument("builders", nargs="*", help="op builder names, e.g. CPUAdamBuilder")
    args = p.parse_args(argv)
    os.environ["DS_ACCELERATOR"] = args.device  # before deepspeed's import
    os.environ[ENV] = str(extensions_dir())
    print(json.dumps(missing(tuple(args.builders))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
