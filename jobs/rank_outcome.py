"""What a rank ends with: ok (its metrics, step times and loss) or the status of its failure.

The worker sends each rank's `RankOutcome` to rank 0, which builds the run's record
from them (jobs/record.py); an exception instead ends the run `oom` or `failed`
(`classify`). `RankRun` is the one signature of the siblings that produce an outcome:
training (jobs/train.py) and inference (jobs/inference.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from jobs.ranks import Ranks
from suite.resolved import Resolved
from suite.strategy_spec import RankContext

# Messages of out-of-memory errors that are not MemoryError / torch.cuda.OutOfMemoryError.
OOM_TEXT = ("DefaultCPUAllocator: can't allocate memory", "CUDA out of memory",
            "out of memory")


@dataclass(frozen=True, kw_only=True)
class RankOutcome:
    """What one rank sends to rank 0: its metrics, its step times, its last loss."""

    metrics: dict  # RankMetrics as a dict (mpi4py and gather_object pickle it)
    step_times_s: list[float]
    final_loss: float
    optimizer_impl: str  # e.g. DeepSpeedZeroOptimizer/DeepSpeedCPUAdam, for the fingerprint
    stable: bool | None = None  # the step times settled (None: a fixed count, jobs/measure.py)


class RankRun(Protocol):
    """One rank's part of a run of some kind, set up by the worker (process group, threads,
    the strategies' `prepare`: jobs.worker.start_rank): training or inference."""

    def __call__(self, run: Resolved, ranks: Ranks, ctx: RankContext) -> RankOutcome: ...


def classify(error: BaseException) -> str:
    """`oom` for running out of memory (the valid result of a too-big scenario), else `failed`."""
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":
        return "oom"  # torch.cuda.OutOfMemoryError, without importing torch here
    return "oom" if any(text in str(error) for text in OOM_TEXT) else "failed"
