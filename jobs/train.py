"""One rank's part of a run: model, DeepSpeed engine, warm-up and timed steps, its probes.

The process group is up (jobs/dist.py) before `train` is called. Rank 0 prints one
line per phase; the launcher keeps stdout in the run's log.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import asdict, dataclass

from jobs import probes
from jobs.held import held_tensors
from jobs.ledger import Ledger, count
from jobs.ranks import Ranks
from results.schema import RankMetrics
from suite.ds_config import deepspeed_config
from suite.models import build_model, model_spec
from suite.scenario import Scenario


@dataclass(frozen=True, kw_only=True)
class RankOutcome:
    """What one rank sends to rank 0: its metrics, its step times, its last loss."""

    metrics: dict  # RankMetrics as a dict (mpi4py and gather_object pickle it)
    step_times_s: list[float]
    final_loss: float
    optimizer_impl: str  # e.g. DeepSpeedZeroOptimizer/DeepSpeedCPUAdam, for the fingerprint


def train(scenario: Scenario, ranks: Ranks) -> RankOutcome:
    import deepspeed
    import torch

    say = print if ranks.rank == 0 else (lambda *a, **k: None)
    device, settings = str(scenario["device"]), scenario.settings
    spec = model_spec(str(scenario["model"]))
    if device == "cpu" and "OMP_NUM_THREADS" not in os.environ:  # else the user's or Slurm's
        # Each rank its share of the cores it may run on, as torchrun does: torch would start a
        # thread per core in every rank, and ranks sharing a node would fight over them.
        torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) // (ranks.local_size or 1)))
    torch.manual_seed(settings.seed)  # the same initial weights on every rank
    on = f"cuda:{ranks.local_rank}" if device == "cuda" else "cpu"
    config = deepspeed_config(scenario)
    if scenario["zero_stage"] == 3:
        # ZeRO-3 partitions each parameter as it is created: no rank ever holds the whole
        # model, which is what lets a model larger than one device's memory start at all.
        with deepspeed.zero.Init(config_dict_or_path=config):
            model = build_model(spec)
    else:
        model = build_model(spec, device=on)
    engine, *_ = deepspeed.initialize(model=model, model_parameters=model.parameters(),
                                      config=config)
    say(f"worker: deepspeed engine ready ({type(engine.optimizer).__name__})", flush=True)

    # Synthetic tokens, different on every rank, the same on every step: data loading is not
    # what is measured. Targets are the inputs shifted by one.
    gen = torch.Generator().manual_seed(settings.seed + ranks.rank)
    mb, seq, accum = (int(scenario[k]) for k in ("micro_batch", "seq_len", "grad_accum"))
    tokens = torch.randint(0, spec.vocab_size, (mb, seq + 1), generator=gen)
    x, y = tokens[:, :-1].contiguous().to(on), tokens[:, 1:].contiguous().to(on)

    def step(snapshot=None) -> float:
        for _ in range(accum):  # DeepSpeed counts micro-steps: step() on each, it steps at the last
            loss = engine(x, y)
            engine.backward(loss)
            if snapshot:
                snapshot()
            engine.step()
        if snapshot:
            snapshot()
        return float(loss.item())

    say(f"worker: warm-up, {settings.warmup_steps} step(s)", flush=True)
    loss = float("nan")
    for _ in range(settings.warmup_steps):
        loss = step()
    rss_reset = probes.reset_peak_rss()
    probes.reset_device_peaks(device)

    say(f"worker: timing {settings.timed_steps} step(s)", flush=True)
    times, ledger, walk_s = [], Ledger(), [0.0]

    def snapshot() -> None:
        # The ledger of the last timed step: after each micro-step's backward (gradients reduced,
        # not yet consumed; optimizer states exist from the first step on, ZeRO-1/2 create them
        # at init) and after the step (states of a run without warm-up, whose first step makes
        # them). Per category the most held at these points. The walk is host bookkeeping; its
        # time is taken out of the step's.
        nonlocal ledger
        t = time.perf_counter()
        ledger = ledger.max(count(held_tensors(engine.module, engine.optimizer)))
        walk_s[0] += time.perf_counter() - t

    for i in range(settings.timed_steps):
        last = i == settings.timed_steps - 1
        loss, seconds = probes.timed(lambda last=last: step(snapshot if last else None), device)
        times.append(seconds - (walk_s[0] if last else 0.0))
    allocated, reserved = probes.device_peaks(device)
    say(f"worker: timed steps done, median {probes.median_iqr(times)[0]:.4f}s on rank 0"
        + ("" if rss_reset else " (host peak RSS not reset: includes start-up)"), flush=True)

    inner = getattr(engine.optimizer, "optimizer", None)
    metrics = RankMetrics(rank=ranks.rank, hostname=socket.gethostname(),
                          **asdict(ledger), peak_host_rss_bytes=probes.peak_rss_bytes(),
                          peak_device_allocated_bytes=allocated,
                          peak_device_reserved_bytes=reserved,
                          step_time_s=probes.median_iqr(times)[0])
    impl = "/".join(type(o).__name__ for o in (engine.optimizer, inner) if o is not None)
    return RankOutcome(metrics=asdict(metrics), step_times_s=times, final_loss=loss,
                       optimizer_impl=impl)
