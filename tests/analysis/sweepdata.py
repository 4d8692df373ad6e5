"""Test sweep folders for tests/analysis: real RunRecords written with the real store.

The ledger bytes follow ZeRO's partitioning for fp32 AdamW on N ranks:
parameters 4P (4P/N at stage 3), gradients 4P (4P/N from stage 2), the
optimizer's fp32 copy 4P/N from stage 1, Adam's two states 8P (8P/N from
stage 1). The host RSS adds a runtime base and, with CPU offload, pinned buffers.
"""

from __future__ import annotations

from pathlib import Path

from jobs.record import predicted
from results.schema import Measurements, RankMetrics, RunRecord, replace
from results.store import runs_dir, write_record
from suite.memory_model import predict
from suite.models import MODELS
from suite.peak_model import predict_peak
from suite.scenario import Scenario

MiB = 1024**2
CONFIGS = [(s, o) for s in range(4) for o in ("none", "cpu") if not (s == 0 and o == "cpu")]
LOG_TAIL = "\n".join([
    "[rank0] step 1/7", "[rank1] step 1/7", "[rank0] step 2/7",
    "[rank1] loading model small", "[rank1] deepspeed.initialize(zero_stage=1)",
    "Traceback (most recent call last):", '  File "jobs/worker.py", line 88, in step',
    "RuntimeError: gloo: connection reset by peer $x$",
])


def ledger(n_params: int, stage: int, world: int) -> dict[str, int]:
    p4 = 4 * n_params
    return {"params_bytes": p4 if stage < 3 else p4 // world,
            "grads_bytes": p4 if stage < 2 else p4 // world,
            "master_params_bytes": 0 if stage == 0 else p4 // world,
            "optimizer_state_bytes": 2 * p4 if stage == 0 else 2 * p4 // world}


def make_record(*, model: str, stage: int, offload: str, status: str = "ok",
                device: str = "cpu", world: int = 2, sweep: str = "smoke", repetition: int = 0,
                night: str = "2026-11-25", partition: str | None = None, memory: float = 1.0,
                speed: float = 1.0, iqr: float = 1 / 20, tensor_peaks: bool = False,
                **axes) -> RunRecord:
    """`memory` scales the ledger and the peaks, `speed` the throughput (a planted change);
    `iqr` is the timed steps' spread relative to the median step; `tensor_peaks` gives each
    rank the tensor peak and breakdown of suite/peak_model.py (rank r: 1 + r/100 times it)
    and the prediction a run records."""
    scenario = Scenario.from_values(sweep=sweep, repetition=repetition, values={
        "model": model, "world_size": world, "zero_stage": stage, "offload_optimizer": offload,
        "device": device, **axes})
    n = MODELS[model].n_params
    step = 0.002 * n / 1e5 * (1 + 0.15 * stage) * (1.7 if offload == "cpu" else 1.0) / speed
    samples = scenario["micro_batch"] * world / step
    ok = status == "ok"
    started = f"{night}T02:{stage:02d}:{2 * len(model) + (offload == 'cpu'):02d}+00:00"
    held = {k: int(v * memory) for k, v in ledger(n, stage, world).items()}
    ranks = tuple(RankMetrics(
        rank=r, hostname="node01", **held,
        peak_host_rss_bytes=int((400 * MiB + sum(ledger(n, stage, world).values())
                                 + (4 * n if offload == "cpu" else 0) + r * MiB) * memory),
        peak_device_allocated_bytes=int((sum(ledger(n, stage, world).values()) + 64 * MiB + r)
                                        * memory) if device == "cuda" else None,
        peak_device_reserved_bytes=(128 * MiB) if device == "cuda" else None,
        step_time_s=step) for r in range(world))
    if tensor_peaks:
        ranks = tuple(with_tensor_peak(scenario, k) for k in ranks)
    return RunRecord(
        run_id=scenario.run_id, status=status, sweep=sweep, scenario=scenario.to_json(),
        started_at=started,
        finished_at=f"{night}T02:{stage:02d}:30+00:00", duration_s=30.0,
        measurements=Measurements(step_times_s=(step,) * 5, step_time_s=step,
                                  step_time_iqr_s=step * iqr, samples_per_s=samples,
                                  tokens_per_s=samples * scenario["seq_len"],
                                  final_loss=6.9 - 0.1 * stage) if ok else None,
        ranks=ranks if status in ("ok", "oom") else (),
        fingerprint={"hostname": "node01", "torch": "2.13.0+cpu", "deepspeed": "0.18.2",
                     "mpi_library": "MPICH Version: 4.3.2", "git_commit": "7f8ec6c",
                     "cpu": "AMD EPYC 9554", "date": started, "partition": partition,
                     "gpu": "NVIDIA H100 80GB HBM3" if device == "cuda" else None},
        reason=None if ok else f"{status}: rank 1 exited with code 1",
        log_tail=None if ok else LOG_TAIL, log_path=None if ok else "logs/x.log")


def with_tensor_peak(scenario: Scenario, k: RankMetrics) -> RankMetrics:
    """`k` with a tensor peak measured 1 + rank/100 times suite/peak_model.py's, every
    category scaled alike, and the prediction jobs/record.py adds to a run's ranks."""
    peak = predict_peak(scenario.values, rank=k.rank)
    scale = 1 + k.rank / 100
    breakdown = {c: int(v * scale) for c, v in peak.breakdown().items()}
    k = replace(k, tensor_peak_bytes=sum(breakdown.values()), tensor_peak_phase=peak.peak_phase,
                tensor_breakdown=breakdown)
    return replace(k, predicted=predicted(scenario, k))


def write_sweep(root: Path, *, models=("tiny", "small"), device: str = "cpu",
                failures: dict | None = None, all_status: str | None = None,
                corrupt: bool = True) -> list[RunRecord]:
    """Every ZeRO stage × offload config per model; `failures` maps (model, stage, offload)
    to a status; `all_status` makes every run that status; plus one corrupt file."""
    failures = failures or {}
    records = [make_record(model=m, stage=s, offload=o, device=device,
                           status=all_status or failures.get((m, s, o), "ok"))
               for m in models for s, o in CONFIGS]
    for r in records:
        write_record(root, r)
    if corrupt:
        (runs_dir(root) / "0badc0ffee.json").write_text("{ not json")
    return records


FAILURES = {("small", 1, "cpu"): "failed", ("small", 0, "none"): "oom"}


def scenario_record(scenario: Scenario, *, status: str = "ok", night: str = "2026-11-25"
                    ) -> RunRecord:
    """A CPU run of any catalogue scenario (every strategy axis), its ledger and its tensor peak
    (where a training scenario's peak can be predicted) as the analytical models predict
    them: for reports of a real sweep file's scenarios without running them."""
    values, pred = scenario.values, predict(scenario.values)
    world, n = values["world_size"], MODELS[values["model"]].n_params
    held = {k: max(v, 0) for k, v in pred.ledger().items()}
    rss = 285 * MiB + sum(held.values()) + pred.activation_bytes + pred.host_bytes
    step = 0.002 * n / 1e5 * (1 + 0.1 * values["zero_stage"]) * (1 + 0.01 * len(scenario.run_id))
    samples = values["micro_batch"] * world / step
    ok = status == "ok"
    started = f"{night}T02:00:{int(scenario.run_id[:2], 16) % 60:02d}+00:00"
    ranks = tuple(RankMetrics(rank=r, hostname="node01", **held, peak_host_rss_bytes=rss + r,
                              step_time_s=step) for r in range(world))
    if ok and values["kind"] == "train":
        ranks = tuple(with_tensor_peak(scenario, k) for k in ranks)
    return RunRecord(
        run_id=scenario.run_id, status=status, sweep=scenario.sweep,
        scenario=scenario.to_json(), started_at=started, finished_at=started, duration_s=30.0,
        measurements=Measurements(step_times_s=(step,) * 3, step_time_s=step,
                                  step_time_iqr_s=step / 20, samples_per_s=samples,
                                  tokens_per_s=samples * values["seq_len"],
                                  final_loss=6.9) if ok else None,
        ranks=ranks if status in ("ok", "oom") else (),
        fingerprint={"hostname": "node01", "torch": "2.13.0+cpu", "deepspeed": "0.19.8",
                     "mpi_library": "MPICH Version: 4.3.2", "git_commit": "7f8ec6c",
                     "cpu": "AMD EPYC 9554", "date": started, "partition": None, "gpu": None},
        reason=None if ok else f"{status}: rank 1 exited with code 1",
        log_tail=None if ok else LOG_TAIL, log_path=None if ok else "logs/x.log")
