"""kind = inference: the scenario's model (pruned, quantized, ...) in eval mode, forward only.

No DeepSpeed engine: every rank holds the whole model in the scenario's precision
and times no_grad forward passes over its own micro-batch (data-parallel
inference). The "loss" is the cross-entropy of its logits on the synthetic tokens,
so quantization's effect on the output is in the record next to its bytes.
"""

from __future__ import annotations

import os
import socket

from jobs import hooks, measure, probes
from jobs.ledger import count
from jobs.placement import node_name
from jobs.rank_outcome import RankOutcome
from jobs.ranks import Ranks
from results.schema import RankMetrics
from suite.resolved import Resolved
from suite.strategy_spec import TORCH_DTYPES, RankContext


def infer(run: Resolved, ranks: Ranks, ctx: RankContext) -> RankOutcome:
    """kind inference (a RankRun, jobs/rank_outcome.py)."""
    import torch  # heavy: loaded late, in the rank only
    import torch.nn.functional as F  # heavy: loaded late, in the rank only

    say = print if ranks.rank == 0 else (lambda *a, **k: None)
    settings, device, work = run.settings, ctx.device, run.workload
    phases = measure.Phases(device)
    phases.begin("init")
    torch.manual_seed(settings.seed)
    model = hooks.build(run, None, ctx)
    model = model.to(getattr(torch, TORCH_DTYPES[run["precision"]])).eval()
    model.requires_grad_(False)
    phases.end()
    say(f"worker: inference model ready ({sum(p.numel() for p in model.parameters()):,} "
        f"parameters)", flush=True)

    gen = torch.Generator().manual_seed(settings.seed + ranks.rank)
    tokens = torch.randint(0, run.model.vocab_size, (work.micro_batch, work.seq_len + 1),
                           generator=gen)
    x, y = tokens[:, :-1].contiguous().to(ctx.torch_device), tokens[:, 1:].contiguous().to(
        ctx.torch_device)

    def step(mark=None) -> float:
        with torch.no_grad():
            mark and mark("forward")
            logits = model(x)
            mark and mark("end")
            return float(F.cross_entropy(logits.float().view(-1, logits.shape[-1]), y.view(-1)))

    with phases.phase("warmup"):
        for _ in range(settings.warmup_steps):
            step()
    say(f"worker: timing {settings.timed_steps} forward pass(es)", flush=True)
    with phases.phase("timed"):
        times, loss, stable = measure.timed_steps(
            step, minimum=settings.timed_steps, maximum=settings.max_timed_steps, device=device,
            agree=measure.agree_max(device))
    step(phases.mark)  # the probe: the forward's own peak
    timed = phases.peaks["timed"]
    held = count({"params": list(model.parameters())}).params_bytes
    extra = hooks.observe(run, None, ctx, model)
    metrics = RankMetrics(rank=ranks.rank, hostname=socket.gethostname(),
                          node=node_name(os.environ), params_bytes=held,
                          grads_bytes=0, master_params_bytes=0, optimizer_state_bytes=0,
                          peak_host_rss_bytes=timed.host_rss_bytes,
                          peak_device_allocated_bytes=timed.device_allocated_bytes,
                          peak_device_reserved_bytes=timed.device_reserved_bytes,
                          step_time_s=probes.median_iqr(times)[0],
                          phases=tuple(phases.peaks.values()),
                          activation_peak_bytes=phases.activation_peak, **extra)
    return RankOutcome(metrics=metrics.to_json(), step_times_s=times, final_loss=loss,
                       optimizer_impl="none (inference)", stable=stable)
