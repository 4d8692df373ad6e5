"""The run's record from what the ranks sent (ok), or from the exception that ended it."""

from __future__ import annotations

import math
import statistics
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from jobs import probes
from results.schema import Measurements, RankMetrics, RunRecord
from suite.scenario import Scenario

if TYPE_CHECKING:  # jobs.train imports torch; a run that fails before training need not
    from jobs.train import RankOutcome

LOG_TAIL_CHARS = 4000
# Messages of out-of-memory errors that are not MemoryError / torch.cuda.OutOfMemoryError.
OOM_TEXT = ("DefaultCPUAllocator: can't allocate memory", "CUDA out of memory",
            "out of memory")


def now() -> datetime:
    return datetime.now(timezone.utc)


def classify(error: BaseException) -> str:
    """`oom` for running out of memory (the valid result of a too-big scenario), else `failed`."""
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":
        return "oom"  # torch.cuda.OutOfMemoryError, without importing torch here
    return "oom" if any(text in str(error) for text in OOM_TEXT) else "failed"


def measurements(scenario: Scenario, outcomes: list[RankOutcome]) -> Measurements:
    steps = probes.slowest_per_step([o.step_times_s for o in outcomes])
    median, iqr = probes.median_iqr(steps)
    samples = (int(scenario["world_size"]) * int(scenario["micro_batch"])
               * int(scenario["grad_accum"]) / median)
    loss = statistics.fmean(o.final_loss for o in outcomes)
    if not math.isfinite(loss):
        raise FloatingPointError(f"final loss is {loss}: the run diverged")
    return Measurements(step_times_s=tuple(steps), step_time_s=median, step_time_iqr_s=iqr,
                        samples_per_s=samples, tokens_per_s=samples * int(scenario["seq_len"]),
                        final_loss=loss)


def ok_record(scenario: Scenario, outcomes: list[RankOutcome], *, attempt: int,
              started: datetime, fingerprint: dict) -> RunRecord:
    finished = now()
    return RunRecord(run_id=scenario.run_id, attempt=attempt, status="ok", sweep=scenario.sweep,
                     scenario=scenario.to_json(), started_at=started.isoformat(),
                     finished_at=finished.isoformat(),
                     duration_s=(finished - started).total_seconds(),
                     measurements=measurements(scenario, outcomes),
                     ranks=tuple(RankMetrics(**o.metrics) for o in outcomes),
                     fingerprint=fingerprint)


def failed_record(scenario: Scenario, error: BaseException, traceback_text: str, *,
                  attempt: int, started: datetime, fingerprint: dict) -> RunRecord:
    finished = now()
    reason = f"{type(error).__name__}: {error}".strip()
    return RunRecord(run_id=scenario.run_id, attempt=attempt, status=classify(error),
                     sweep=scenario.sweep, scenario=scenario.to_json(),
                     started_at=started.isoformat(), finished_at=finished.isoformat(),
                     duration_s=(finished - started).total_seconds(), fingerprint=fingerprint,
                     reason=reason[:1000],
                     log_tail=traceback_text[-LOG_TAIL_CHARS:])
