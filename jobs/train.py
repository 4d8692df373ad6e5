"""One rank's part of a run: model, DeepSpeed engine, warm-up and timed steps, its probes.

The process group is up (jobs/dist.py) before `train` is called. Rank 0 prints one
line per phase; the launcher keeps stdout in the run's log.
"""

from __future__ import annotations

import os
import socket
from dataclasses import asdict

from jobs import hooks, measure, probes
from jobs.activations import ActivationMeter
from jobs.held import held_tensors
from jobs.ledger import Ledger, count
from jobs.peak_probe import PeakProbe
from jobs.placement import node_name
from jobs.rank_outcome import RankOutcome
from jobs.ranks import Ranks
from results.schema import RankMetrics
from suite.ds_config import deepspeed_config
from suite.parallel import data_rank, sequence_slice
from suite.resolved import Resolved
from suite.strategy_spec import RankContext


def train(run: Resolved, ranks: Ranks, ctx: RankContext) -> RankOutcome:
    """kind train or distill (a RankRun, jobs/rank_outcome.py)."""
    import deepspeed  # heavy: loaded late, in the rank only
    import torch  # heavy: loaded late, in the rank only

    say = print if ranks.rank == 0 else (lambda *a, **k: None)
    device, settings, work = ctx.device, run.settings, run.workload
    torch.manual_seed(settings.seed)  # the same initial weights on every rank
    on = ctx.torch_device
    config = deepspeed_config(run)
    # Live tensor bytes from before the model exists (jobs/peak_probe.py), out of the timed steps.
    tensors = PeakProbe(device)
    tensors.start()
    phases = measure.Phases(device, tensors)  # memory peaks per phase; the phase an OOM names
    phases.begin("init")
    # The model with the strategies' transforms; under ZeRO-3 partitioned as it is created
    # (no rank ever holds the whole model) unless a transform needs it whole first.
    model = hooks.build(run, config, ctx)
    objective = hooks.objective(run, ctx)  # e.g. distillation's teacher and KL loss
    engine, *_ = deepspeed.initialize(model=model, model_parameters=model.parameters(),
                                      config=config,
                                      optimizer=hooks.client_optimizer(run),
                                      mpu=hooks.mpu(run, ctx))
    tensors.attach(engine.module, engine.optimizer)
    phases.end()
    say(f"worker: deepspeed engine ready ({type(engine.optimizer).__name__})", flush=True)

    # Synthetic tokens, different on every rank, the same on every step: data loading is not
    # what is measured. Targets are the inputs shifted by one.
    # A model replica's ranks (tensor parallelism) share their data, a sequence group's ranks
    # their samples, each feeding its slice of the sequence (suite/parallel.py).
    gen = torch.Generator().manual_seed(settings.seed + data_rank(run, ranks.rank))
    mb, seq, accum = work.micro_batch, work.seq_len, work.grad_accum
    tokens = torch.randint(0, run.model.vocab_size, (mb, seq + 1), generator=gen)
    start, stop = sequence_slice(run, ranks.rank)
    x, y = (tokens[:, start + i:stop + i].contiguous().to(on) for i in (0, 1))

    own_step = hooks.train_step(run)  # e.g. the pipeline's train_batch

    def step(mark=None) -> float:
        # `mark(point)`: the probe step's hook, where forward, backward and step begin.
        if own_step is not None:
            return own_step(engine, x, y, accum, mark)
        for _ in range(accum):  # DeepSpeed counts micro-steps: step() on each, it steps at the last
            mark and mark("forward")
            loss = objective.loss(engine, x, y) if objective else engine(x, y)
            mark and mark("backward")
            engine.backward(loss)
            mark and mark("step")
            engine.step()
        mark and mark("end")
        return float(loss.item())

    say(f"worker: warm-up, {settings.warmup_steps} step(s)", flush=True)
    with phases.phase("warmup"):
        for _ in range(settings.warmup_steps):
            step()

    say(f"worker: timing {settings.timed_steps} step(s)"
        + (f", up to {settings.max_timed_steps} until stable" if settings.max_timed_steps else ""),
        flush=True)
    tensors.pause()
    with phases.phase("timed"):
        times, loss, stable = measure.timed_steps(
            step, minimum=settings.timed_steps, maximum=settings.max_timed_steps, device=device,
            agree=measure.agree_max(device))
    tensors.start()  # adopts what the timed steps left live
    timed = phases.peaks["timed"]
    say(f"worker: timed steps done, median {probes.median_iqr(times)[0]:.4f}s on rank 0"
        + ("" if timed.host_reset else " (host peak RSS not reset: includes start-up)"),
        flush=True)

    # One more step, untimed: peaks of its forward, backward and step, and the ledger after
    # each micro-step's backward (gradients reduced, not yet consumed; optimizer states exist
    # from the first step on) and after the step. Per category the most held at these points.
    ledger, meter = Ledger(), ActivationMeter(engine.module)

    def probe(point: str) -> None:
        nonlocal ledger
        if point == "backward":
            meter.stop()  # what the forward saved for backward
            tensors.saw_activations(meter.saved_ptrs)
        if point in ("step", "end"):
            phases.end()  # the walk is bookkeeping: outside the phases it would inflate
            ledger = ledger.max(count(held_tensors(engine.module, engine.optimizer)))
        phases.mark(point)
        if point == "forward":
            meter.start()

    step(probe)
    tensors.stop()
    at_peak = measure.tensor_peak(phases.peaks)
    extra = hooks.observe(run, config, ctx, engine.module, objective)
    hooks.cleanup(run, config, ctx)

    inner = getattr(engine.optimizer, "optimizer", None)
    metrics = RankMetrics(rank=ranks.rank, hostname=socket.gethostname(),
                          node=node_name(os.environ),
                          **asdict(ledger), peak_host_rss_bytes=timed.host_rss_bytes,
                          peak_device_allocated_bytes=timed.device_allocated_bytes,
                          peak_device_reserved_bytes=timed.device_reserved_bytes,
                          step_time_s=probes.median_iqr(times)[0],
                          phases=tuple(phases.peaks.values()),
                          activation_peak_bytes=phases.activation_peak,
                          activation_bytes=meter.peak_bytes,
                          tensor_peak_bytes=at_peak and at_peak.tensor_peak_bytes,
                          tensor_peak_phase=at_peak and at_peak.phase,
                          tensor_breakdown=at_peak and at_peak.tensor_breakdown, **extra)
    impl = "/".join(type(o).__name__ for o in (engine.optimizer, inner) if o is not None)
    return RankOutcome(metrics=metrics.to_json(), step_times_s=times, final_loss=loss,
                       optimizer_impl=impl, stable=stable)
