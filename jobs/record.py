"""The run's record from what the ranks sent (ok), or from the exception that ended it."""

from __future__ import annotations

import math
import os
import statistics
import sys
from datetime import datetime, timezone

from jobs import probes
from jobs.rank_outcome import RankOutcome, classify
from results.schema import (
    Measurements,
    OomInfo,
    PhasePeak,
    PredictedMemory,
    RankMetrics,
    RunRecord,
    replace,
)
from suite.device_flops import PEAK_ENV, parse_override, peak_tflops
from suite.memory_model import predict
from suite.models import flops_per_token, model_spec
from suite.parallel import data_parallel_size
from suite.peak_model import PHASES, TRAINING_KINDS, PeakPrediction, predict_peak
from suite.scenario import Scenario

LOG_TAIL_CHARS = 4000


def now() -> datetime:
    return datetime.now(timezone.utc)


def measurements(scenario: Scenario, outcomes: list[RankOutcome], *,
                 device_name: str | None = None, environ=os.environ) -> Measurements:
    """Step statistics of the slowest rank per step, throughput, TFLOP/s and MFU.

    FLOPs per token are 6N + 12·L·h·s (suite/models.py): the recompute of activation
    checkpointing is not counted, so checkpointing lowers TFLOP/s and MFU by what it costs.
    """
    steps = probes.slowest_per_step([o.step_times_s for o in outcomes])
    median, iqr = probes.median_iqr(steps)
    work = scenario.workload
    world = work.world_size
    # Distinct samples: a model replica's ranks (model parallelism) work on the same ones.
    samples = data_parallel_size(scenario.values) * work.micro_batch * work.grad_accum / median
    tokens = samples * work.seq_len
    loss = statistics.fmean(o.final_loss for o in outcomes)
    if not math.isfinite(loss):
        raise FloatingPointError(f"final loss is {loss}: the run diverged")
    flops = flops_per_token(model_spec(work.model), work.seq_len)
    tflops = tokens * flops / world / 1e12
    peak, source = peak_tflops(device_name if work.device == "cuda" else None,
                               scenario["precision"], parse_override(environ.get(PEAK_ENV)))
    return Measurements(step_times_s=tuple(steps), step_time_s=median, step_time_iqr_s=iqr,
                        samples_per_s=samples, tokens_per_s=tokens, final_loss=loss,
                        step_time_cv=probes.cv(steps), stable=outcomes[0].stable,
                        flops_per_token=flops, tflops_per_rank=tflops, peak_tflops=peak,
                        peak_source=source, mfu=tflops / peak if peak else None,
                        load_average=os.getloadavg()[0], cpus=len(os.sched_getaffinity(0)))


def rank_metrics(scenario: Scenario, metrics: dict) -> RankMetrics:
    """A rank's metrics (as sent: a dict) with the model's prediction for it beside them."""
    m = RankMetrics(**{**metrics, "phases": tuple(PhasePeak(**p) if isinstance(p, dict) else p
                                                  for p in metrics.get("phases", ()))})
    return replace(m, predicted=predicted(scenario, m))


def predicted(scenario: Scenario, m: RankMetrics) -> PredictedMemory | None:
    if scenario.workload.kind not in TRAINING_KINDS:
        return None  # the model predicts training's model states
    try:
        p = predict(scenario.values, rank=m.rank)
    except Exception as e:  # a scenario the model does not know must not lose the record
        print(f"worker: no prediction for rank {m.rank}: {e}", file=sys.stderr)
        return None
    # Activations two ways against Korthikanti: autograd's saved tensors (activation_bytes,
    # jobs/activations.py) and the memory peak of the forward (activation_peak_bytes).
    pairs = {**{k: (_ledger(m, k), v) for k, v in p.ledger().items()},
             "activation_bytes": (getattr(m, "activation_bytes", None), p.activation_bytes),
             "activation_peak_bytes": (m.activation_peak_bytes, p.activation_bytes)}
    peak = _peak(scenario, m.rank)
    if peak is not None:
        pairs["tensor_peak_bytes"] = (m.tensor_peak_bytes, peak.peak_bytes)
        pairs["ops_activation_bytes"] = (m.activation_bytes, peak.breakdown("forward").get(
            "activations", 0))
    return PredictedMemory(model=p.mode, **p.ledger(), activation_bytes=p.activation_bytes,
                           buffer_bytes=p.buffer_bytes, host_bytes=p.host_bytes,
                           device_bytes=p.device_bytes,
                           ratios={k: _ratio(*pair) for k, pair in pairs.items()},
                           **(_peak_fields(peak) if peak is not None else {}))


def _ledger(m: RankMetrics, key: str) -> int | None:
    """A measured ledger category as the prediction counts it: its parameters hold a
    distillation teacher (the strategy's term), which the rank measures apart."""
    if key == "params_bytes" and m.params_bytes is not None and m.teacher_params_bytes:
        return m.params_bytes + m.teacher_params_bytes
    return getattr(m, key)


def _peak(scenario: Scenario, rank: int) -> PeakPrediction | None:
    try:
        return predict_peak(scenario.values, rank=rank)
    except Exception as e:  # as above: the record matters more than its prediction
        print(f"worker: no peak prediction for rank {rank}: {e}", file=sys.stderr)
        return None


def _peak_fields(peak: PeakPrediction) -> dict:
    return {"peak_bytes": peak.peak_bytes, "peak_phase": peak.peak_phase,
            "phase_peak_bytes": {ph: peak.phase_bytes(ph) for ph in PHASES},
            "peak_breakdown": peak.breakdown(),
            "ops_activation_bytes": peak.breakdown("forward").get("activations", 0)}


def _ratio(measured: int | None, expected: int) -> float | None:
    if measured is None:
        return None
    if expected == 0:
        return 1.0 if measured == 0 else None
    return measured / expected


def ok_record(scenario: Scenario, outcomes: list[RankOutcome], *, attempt: int,
              started: datetime, fingerprint: dict) -> RunRecord:
    finished = now()
    return RunRecord(run_id=scenario.run_id, attempt=attempt, status="ok", sweep=scenario.sweep,
                     scenario=scenario.to_json(), started_at=started.isoformat(),
                     finished_at=finished.isoformat(),
                     duration_s=(finished - started).total_seconds(),
                     measurements=measurements(scenario, outcomes,
                                               device_name=fingerprint.get("gpu")),
                     ranks=tuple(rank_metrics(scenario, o.metrics) for o in outcomes),
                     fingerprint=fingerprint)


def failed_record(scenario: Scenario, error: BaseException, traceback_text: str, *,
                  attempt: int, started: datetime, fingerprint: dict,
                  oom: OomInfo | None = None) -> RunRecord:
    finished = now()
    reason = f"{type(error).__name__}: {error}".strip()
    return RunRecord(run_id=scenario.run_id, attempt=attempt, status=classify(error),
                     sweep=scenario.sweep, scenario=scenario.to_json(),
                     started_at=started.isoformat(), finished_at=finished.isoformat(),
                     duration_s=(finished - started).total_seconds(), fingerprint=fingerprint,
                     reason=reason[:1000], oom=oom if classify(error) == "oom" else None,
                     log_tail=traceback_text[-LOG_TAIL_CHARS:])
