"""What memsweep's harness costs: a bare DeepSpeed loop against the worker, same model, same run.

    memsweep bench-harness [--model tiny] [--world-size 2] [--zero-stage 0] [--steps 20]
                           [--warmup 3] [--reps 3] [--out DIR]

A ("bare") is this module run as the ranks' program: DeepSpeed's engine on the same model,
config, data and thread count, and then `steps` steps with nothing between them but a
clock read. B ("memsweep") is the worker (python -m jobs.worker) on the same scenario:
phases, probes, the probe step, the record. The launches alternate A/B/A/B; each side's
figures are medians over its repetitions, and the ratio is given both as the ratio of the
medians and as the median of each back-to-back pair's ratio. Throughput is the median
step's (both sides time each step); start-up is the launch's wall time less its warm-up
and timed steps (interpreter, imports, rendezvous, engine, and for B the probe step and
the record).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from jobs.dist import shm_buffer_path, use_installation
from results.store import record_path
from slurm.launch import rank_env
from slurm.local import find_mpiexec
from suite.ds_config import deepspeed_config
from suite.errors import MemsweepError
from suite.models import model_spec
from suite.plan import Plan, plan_path, read_scenario
from suite.scenario import RunSettings, Scenario

RESULT = "bench-harness-bare: "  # the bare rank 0's result line


@dataclass(frozen=True, kw_only=True)
class Launch:
    kind: str  # "bare" or "memsweep"
    wall_s: float  # the mpiexec launch, start to exit
    step_s: float  # median timed step (slowest rank per step for memsweep, rank 0 for bare)
    steps_s: float  # warm-up and timed steps together

    @property
    def startup_s(self) -> float:
        return self.wall_s - self.steps_s


def bench(*, model: str = "tiny", world_size: int = 2, zero_stage: int = 0, steps: int = 20,
          warmup: int = 3, reps: int = 3, out: Path | None = None, say=print) -> dict:
    """Run the A/B/A/B launches; the summary (medians, ratio), also printed through `say`."""
    scenario = Scenario.from_values(
        sweep="bench-harness", values={"model": model, "world_size": world_size,
                                       "zero_stage": zero_stage},
        settings=RunSettings(warmup_steps=warmup, timed_steps=steps))
    out = Path(out or tempfile.mkdtemp(prefix="memsweep-bench-harness-"))
    out.mkdir(parents=True, exist_ok=True)
    plan = plan_path(out)
    Plan(sweep=scenario.sweep, source="bench-harness", description="",
         scenarios=(scenario,)).write(plan)
    mpiexec = find_mpiexec()
    env = {**os.environ, **rank_env(device="cpu", ranks=world_size,
                                    cores=len(os.sched_getaffinity(0)), environ=os.environ)}
    launches: list[Launch] = []
    for rep in range(reps):
        for kind in ("bare", "memsweep"):
            launch = _launch(kind, mpiexec=mpiexec, plan=plan, out=out, scenario=scenario,
                             attempt=rep + 1, env=env)
            say(f"  rep {rep + 1} {kind:<8} step {launch.step_s * 1e3:8.2f} ms  "
                f"start-up {launch.startup_s:6.2f} s")
            launches.append(launch)
    summary = summarize(launches)
    say(f"bench-harness: model {model}, {world_size} rank(s), ZeRO {zero_stage}, {steps} timed "
        f"+ {warmup} warm-up steps, {reps} repetitions interleaved A/B (medians)")
    for kind in ("bare", "memsweep"):
        s = summary[kind]
        say(f"  {kind:<8} step {s['step_s'] * 1e3:8.2f} ms   start-up {s['startup_s']:6.2f} s")
    say(f"  throughput ratio memsweep / bare: {summary['ratio']:.3f} of the medians, "
        f"{summary['paired_ratio']:.3f} median of the pairs (target >= 0.98)")
    return summary


def summarize(launches: list[Launch]) -> dict:
    by = {k: [x for x in launches if x.kind == k] for k in ("bare", "memsweep")}
    summary = {k: {"step_s": statistics.median(x.step_s for x in v),
                   "startup_s": statistics.median(x.startup_s for x in v), "reps": len(v)}
               for k, v in by.items()}
    summary["ratio"] = summary["bare"]["step_s"] / summary["memsweep"]["step_s"]
    # Each repetition's pair ran back to back: their ratio is the least exposed to drift.
    summary["paired_ratio"] = statistics.median(
        a.step_s / b.step_s for a, b in zip(by["bare"], by["memsweep"], strict=True))
    return summary


def _launch(kind: str, *, mpiexec: str, plan: Path, out: Path, scenario, attempt: int,
            env: dict) -> Launch:
    n = str(scenario["world_size"])
    if kind == "bare":
        argv = [mpiexec, "-n", n, sys.executable, "-m", "bench.harness", "--bare",
                str(plan)]
    else:
        argv = [mpiexec, "-n", n, sys.executable, "-m", "jobs.worker", "--plan", str(plan),
                "--index", "0", "--out", str(out), "--attempt", str(attempt)]
    t = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    if done.returncode != 0:
        raise MemsweepError(f"the {kind} launch exited {done.returncode}:\n{done.stderr[-3000:]}")
    if kind == "bare":
        line = next(x for x in done.stdout.splitlines() if x.startswith(RESULT))
        result = json.loads(line[len(RESULT):])
        return Launch(kind=kind, wall_s=wall, step_s=result["step_s"], steps_s=result["steps_s"])
    record = json.loads(record_path(out, scenario.run_id).read_text())
    timed = record["measurements"]["step_times_s"]
    mean = statistics.fmean(timed)
    # Warm-up and probe steps are not timed by the worker: counted at the timed mean.
    untimed = (scenario.settings.warmup_steps + 1) * mean
    return Launch(kind=kind, wall_s=wall, step_s=record["measurements"]["step_time_s"],
                  steps_s=sum(timed) + untimed)


def bare(plan: Path) -> None:
    """One rank of the bare loop: DeepSpeed only, nothing of memsweep between steps."""
    from mpi4py import MPI  # late: importing it starts MPI, which only the ranks may do

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    port = comm.bcast(_free_port() if rank == 0 else None, root=0)
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(size), LOCAL_RANK=str(rank),
                      LOCAL_SIZE=str(size), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    use_installation("cpu")  # the worker's accelerator and compiled ops
    # heavy, late: deepspeed picks its accelerator at import, so only after use_installation
    import deepspeed
    import torch

    from suite.torch_tools import build_model  # heavy: torch, late as above

    scenario = read_scenario(plan, index=0)
    deepspeed.init_distributed(dist_backend="gloo", auto_mpi_discovery=False)
    spec, config = model_spec(str(scenario["model"])), deepspeed_config(scenario)
    torch.manual_seed(scenario.settings.seed)
    if scenario["zero_stage"] == 3:
        with deepspeed.zero.Init(config_dict_or_path=config):
            model = build_model(spec)
    else:
        model = build_model(spec, device="cpu")
    engine, *_ = deepspeed.initialize(model=model, model_parameters=model.parameters(),
                                      config=config)
    gen = torch.Generator().manual_seed(scenario.settings.seed + rank)
    mb, seq, accum = (int(scenario[k]) for k in ("micro_batch", "seq_len", "grad_accum"))
    tokens = torch.randint(0, spec.vocab_size, (mb, seq + 1), generator=gen)
    x, y = tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous()
    warmup, steps = scenario.settings.warmup_steps, scenario.settings.timed_steps
    clock = [0.0] * (warmup + steps + 1)
    clock[0] = time.perf_counter()
    for i in range(warmup + steps):
        for _ in range(accum):
            engine.backward(engine(x, y))
            engine.step()
        clock[i + 1] = time.perf_counter()
    times = [b - a for a, b in zip(clock[warmup:], clock[warmup + 1:], strict=False)]
    # A step ends when its slowest rank's does: the max over ranks per step, as the worker.
    per_rank = comm.gather(times, root=0)
    if rank == 0:
        slowest = [max(step) for step in zip(*per_rank, strict=True)]
        print(RESULT + json.dumps({"step_s": statistics.median(slowest),
                                   "steps_s": clock[-1] - clock[0]}), flush=True)
    # Past the timing: DeepSpeed leaves its shared-memory all-reduce buffers in /dev/shm
    # (jobs/dist.py); the bare loop must not leave 66 MiB per rank behind either.
    comm.Barrier()
    shm_buffer_path(rank=rank, addr="127.0.0.1", port=port).unlink(missing_ok=True)
    torch.distributed.destroy_process_group()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="one rank of the bare DeepSpeed loop")
    parser.add_argument("--bare", required=True, type=Path, help="plan JSON")
    bare(parser.parse_args().bare)
