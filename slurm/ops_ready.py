"""Before a sweep is submitted: the DeepSpeed ops its runs load are built for this installation.

A task whose op is not built ends `failed` at once (jobs/ops.py checks in every rank), but a
whole sweep of such tasks wastes a queue wait and a night; `submit` asks first and exits 3,
submitting nothing. The answer comes from jobs/ops.py's own check (`python -m jobs.ops`), in
a process of its own: DeepSpeed picks its accelerator at import and takes seconds to import,
so it stays out of memsweep's process.

The check runs on the submitting host, so only for CPU runs: a GPU op is built for the GPU
and CUDA of its node, and a login node without one would call every GPU op unbuilt (here,
with nvcc and no GPU: fused_adam). GPU runs are checked by each task on its node. Where the
compute nodes' CPU differs from this host's, `--no-ops-check` leaves the CPU check to the
tasks too.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence

from jobs import ops
from suite.errors import EnvironmentProblem
from suite.scenario import Scenario

TIMEOUT_S = 600  # importing DeepSpeed on a loaded login node, and a ninja dry run per op
CHECKED_HERE = ("cpu",)  # the devices whose ops this host can judge (see above)
SKIP = "--no-ops-check"


def needed_by_device(scenarios: Sequence[Scenario]) -> dict[str, tuple[str, ...]]:
    """Per device checked here, the op builders any of `scenarios` loads (jobs/ops.py:
    needed), each once in the order the runs load them."""
    wanted: dict[str, dict[str, None]] = {}
    for s in scenarios:
        if s.workload.device in CHECKED_HERE:
            wanted.setdefault(s.workload.device, {}).update(dict.fromkeys(ops.needed(s.values)))
    return {device: tuple(b) for device, b in sorted(wanted.items()) if b}


def require_built(scenarios: Sequence[Scenario], *, python: str) -> None:
    """Raise EnvironmentProblem (exit 3) naming the ops `scenarios` would have to compile."""
    absent: list[str] = []
    for device, builders in needed_by_device(scenarios).items():
        absent += [op for op in missing(python, device, builders) if op not in absent]
    if absent:
        raise EnvironmentProblem(
            f"{ops.OpNotBuilt(absent)}; nothing was submitted (checked on this host, "
            f"{python})\n  fix: {ops.FIX} with this installation, on a machine like the "
            f"compute nodes; where their CPU differs from this host's, {SKIP} leaves the "
            f"check to each task")


def missing(python: str, device: str, builders: tuple[str, ...]) -> list[str]:
    """jobs/ops.py's answer for `device`: the ops of `builders` a run there would compile."""
    try:
        done = subprocess.run([python, "-m", "jobs.ops", "--device", device, *builders],
                              capture_output=True, text=True, timeout=TIMEOUT_S,
                              stdin=subprocess.DEVNULL, check=False)
        answer = json.loads(done.stdout.splitlines()[-1]) if done.returncode == 0 else None
    except (subprocess.TimeoutExpired, ValueError, IndexError):
        done, answer = None, None
    if not isinstance(answer, list) or not all(isinstance(op, str) for op in answer):
        said = (done.stderr.strip().splitlines() or ["no answer"])[-1] if done else \
            f"no answer within {TIMEOUT_S} s"
        raise EnvironmentProblem(f"could not check DeepSpeed's {device} ops for this "
                                 f"installation ({python} -m jobs.ops: {said})\n  fix: "
                                 f"check that DeepSpeed imports in it, or pass {SKIP}")
    return answer
