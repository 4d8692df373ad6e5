"""A synthetic nightly history of real v1 RunRecords, for the scale benchmark and the tests.

The records are not measurements: they are built from the analytical memory
model (ledger bytes exactly as predicted, peak = predicted device bytes + an
allocator overhead, OOM past the partition's GPU memory) and a FLOP-based
throughput with run-to-run noise, then written with the real store
(results.store.write_record) as `ROOT/<night>/<partition>/runs/<run_id>.json`.
`plant` makes one night of one partition worse, to check that it is caught.
"""

from __future__ import annotations

import functools
import os
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import msgspec

from results.schema import Measurements, RankMetrics, RunRecord
from results.store import record_path, write_record
from suite.memory_model import predict
from suite.models import flops_per_token, model_spec
from suite.scenario import RunSettings, Scenario

GiB = 2**30


@dataclass(frozen=True)
class Partition:
    gpu: str
    capacity: int  # bytes of GPU memory
    tflops: float  # bf16 peak per GPU


PARTITIONS = {"gpu-a100": Partition("NVIDIA A100-SXM4-40GB", 40 * 10**9, 312.0),
              "gpu-h100": Partition("NVIDIA H100 80GB HBM3", 80 * 10**9, 989.0),
              "gpu-h200": Partition("NVIDIA H200 141GB HBM3e", 141 * 10**9, 989.0)}
# (zero_stage, offload_optimizer, precision, optimizer): the first is the baseline.
STRATEGIES = ((0, "none", "fp32", "adamw"), (0, "none", "bf16", "adamw"),
              (1, "none", "bf16", "adamw"), (2, "none", "bf16", "adamw"),
              (3, "none", "bf16", "adamw"), (2, "cpu", "bf16", "adamw"),
              (3, "cpu", "bf16", "adamw"), (3, "none", "fp32", "adamw"),
              (0, "none", "fp32", "sgd"))
MODELS = ("125m", "350m", "760m", "1.3b", "2.7b", "6.7b")  # 13b: predicted where 6.7b fits


@dataclass(frozen=True, kw_only=True)
class History:
    nights: int = 3
    partitions: tuple[str, ...] = ("gpu-a100", "gpu-h100")
    models: tuple[str, ...] = MODELS
    world_sizes: tuple[int, ...] = (8, 16)
    strategies: tuple[tuple, ...] = STRATEGIES
    repetitions: int = 2
    first_night: date = date(2026, 11, 20)
    failure_rate: float = 0.005  # runs that fail for another reason than memory
    seed: int = 7
    plant: dict = field(default_factory=dict)  # e.g. {"memory": 1.10, "throughput": 0.90}
    sweep: str = "nightly"

    def scenarios(self) -> list[Scenario]:
        settings = RunSettings(warmup_steps=3, timed_steps=10)
        return [Scenario.from_values(sweep=self.sweep, repetition=rep, settings=settings,
                                     values={"model": m, "world_size": n, "zero_stage": s,
                                             "offload_optimizer": o, "precision": p,
                                             "optimizer": opt, "device": "cuda",
                                             "micro_batch": 1, "seq_len": 1024})
                for m in self.models for n in self.world_sizes
                for s, o, p, opt in self.strategies for rep in range(self.repetitions)]

    def size(self) -> int:
        return self.nights * len(self.partitions) * len(self.scenarios())


def write_history(root: Path, history: History, *, writers: int = 16,
                  durable: bool = True) -> int:
    """Write every record of `history` under `root`; return how many. `durable=False`: the
    same records, written quicker (`write_quick`), for a benchmark's throwaway history."""
    scenarios = history.scenarios()
    jobs = [(night, part) for night in range(history.nights) for part in history.partitions]

    def one(job) -> int:
        night, part = job
        day = history.first_night + timedelta(days=night)
        folder = Path(root) / day.isoformat() / part
        rng = random.Random(f"{history.seed}/{day}/{part}")
        planted = history.plant if night == history.nights - 1 and \
            part == history.partitions[-1] else {}
        for i, scenario in enumerate(scenarios):
            record = make_record(scenario, part, day, i, rng, history, planted)
            (write_record if durable else write_quick)(folder, record)
        return len(scenarios)

    with ThreadPoolExecutor(max_workers=writers) as pool:  # fsync-bound: threads overlap it
        return sum(pool.map(one, jobs))


def write_quick(root: Path, record: RunRecord) -> Path:
    """As results.store.write_record, without its fsyncs and 100 times faster (msgspec): the
    same JSON, sorted keys, indent 1, for these records (ASCII text, finite numbers); only a
    small float's text may differ (0.0000459 for 4.59e-05)."""
    path = record_path(root, record.run_id)
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    # the Struct encoded as it is, fields sorted: the same text as its to_json(), sorted
    tmp.write_bytes(msgspec.json.format(msgspec.json.encode(record, order="sorted"),
                                        indent=1) + b"\n")
    os.replace(tmp, path)
    return path


def make_record(scenario: Scenario, partition: str, day: date, index: int, rng: random.Random,
                history: History, planted: dict) -> RunRecord:
    hw, values = PARTITIONS[partition], scenario.values
    pred = _predicted(scenario)
    overhead = int(1.2 * GiB + 0.04 * pred.device_bytes)
    peak = int((pred.device_bytes + overhead) * planted.get("memory", 1.0)
               * rng.uniform(0.998, 1.002))
    started = datetime.combine(day, datetime.min.time(), timezone.utc) \
        + timedelta(hours=1, seconds=17 * index)
    status = "oom" if peak > hw.capacity else (
        rng.choice(("failed", "timeout", "node_fail")) if rng.random() < history.failure_rate
        else "ok")
    ledger = {"params_bytes": pred.params_bytes, "grads_bytes": pred.grads_bytes,
              "master_params_bytes": pred.master_params_bytes,
              "optimizer_state_bytes": pred.optimizer_state_bytes}
    if planted.get("memory"):
        ledger = {k: int(v * planted["memory"]) for k, v in ledger.items()}
    host = int(6 * GiB + pred.offloaded_bytes * 1.1)
    ranks = tuple(RankMetrics(
        rank=r, hostname=f"{partition}-n{r // 4:02d}", **ledger,
        peak_host_rss_bytes=int(host * rng.uniform(0.99, 1.01)),
        peak_device_allocated_bytes=min(peak, hw.capacity) - r * 2**20,
        peak_device_reserved_bytes=min(int(peak * 1.08), hw.capacity), step_time_s=None)
        for r in range(values["world_size"])) if status in ("ok", "oom") else ()
    fingerprint = {"hostname": f"{partition}-n00", "cpu": "AMD EPYC 9554 64-Core Processor",
                   "gpu": hw.gpu, "gpu_driver": "565.57.01", "cuda": "12.8",
                   "python": "3.11.7", "torch": "2.13.0+cu128", "deepspeed": "0.18.2",
                   "mpi_library": "Open MPI v5.0.6", "partition": partition,
                   "slurm_job_id": str(400000 + index), "nodelist": f"{partition}-n[00-03]",
                   "git_commit": f"c0ffee{(day.toordinal() // 3) % 10}",
                   "date": started.isoformat()}
    ok = status == "ok"
    return RunRecord(
        run_id=_run_id(scenario), status=status, sweep=scenario.sweep,
        scenario=_scenario_json(scenario), started_at=started.isoformat(),
        finished_at=(started + timedelta(seconds=15)).isoformat(), duration_s=15.0,
        measurements=_measurements(scenario, hw, rng, planted) if ok else None,
        ranks=ranks, fingerprint=fingerprint,
        reason=None if ok else _reason(status, peak, hw),
        log_tail=None if ok else _log_tail(status, scenario),
        log_path=None if ok else f"logs/{_run_id(scenario)}.log")


@functools.lru_cache(maxsize=4096)
def _predicted(scenario: Scenario):
    """The analytical model's figures of a scenario: the same every night (computed once)."""
    return predict(scenario.values)


@functools.lru_cache(maxsize=4096)
def _run_id(scenario: Scenario) -> str:
    return scenario.run_id  # a hash of the scenario: the same every night (computed once)


@functools.lru_cache(maxsize=256)
def _model(model: str, seq_len: int):
    spec = model_spec(model)
    return spec, flops_per_token(spec, seq_len)


@functools.lru_cache(maxsize=4096)
def _scenario_json(scenario: Scenario) -> dict:
    return scenario.to_json()  # shared by the scenario's records: nothing modifies them


def _measurements(scenario: Scenario, hw: Partition, rng: random.Random,
                  planted: dict) -> Measurements:
    v = scenario.values
    spec, per_token = _model(v["model"], v["seq_len"])
    efficiency = 0.45 * (1 - 0.06 * v["zero_stage"]) * (0.55 if v["offload_optimizer"] != "none"
                                                        else 1.0)
    flops = hw.tflops * 1e12 * (0.25 if v["precision"] == "fp32" else 1.0) * efficiency
    tokens = v["world_size"] * v["micro_batch"] * v["seq_len"]
    step = tokens * per_token / (flops * v["world_size"])
    step *= rng.lognormvariate(0, 0.015) / planted.get("throughput", 1.0)
    steps = tuple(step * rng.lognormvariate(0, 0.02) for _ in range(10))
    ordered = sorted(steps)
    samples = v["world_size"] * v["micro_batch"] / step
    loss = 11.0 - 0.35 * (spec.n_params.bit_length() - 20) + rng.gauss(0, 0.01) \
        + (0.01 if v["precision"] == "bf16" else 0.0)
    return Measurements(step_times_s=steps, step_time_s=step,
                        step_time_iqr_s=ordered[7] - ordered[2], samples_per_s=samples,
                        tokens_per_s=samples * v["seq_len"], final_loss=loss)


def _reason(status: str, peak: int, hw: Partition) -> str:
    if status == "oom":
        return f"oom: CUDA out of memory: needs about {peak / GiB:.1f} GiB of {hw.gpu}"
    return {"failed": "failed: rank 3 exited with code 1 (NCCL error: unhandled system error)",
            "timeout": "timeout: still running after 900 s",
            "node_fail": "node_fail: Slurm marked the node down"}[status]


def _log_tail(status: str, scenario: Scenario) -> str:
    last = {"oom": "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
            "failed": "torch.distributed.DistBackendError: NCCL error: unhandled system error",
            "timeout": "slurmstepd: error: *** STEP CANCELLED DUE TO TIME LIMIT ***",
            "node_fail": "srun: error: Node failure on gpu-n03"}[status]
    return "\n".join([f"[rank0] building {scenario['model']} (world size "
                      f"{scenario['world_size']})", "[rank0] deepspeed.initialize done",
                      "Traceback (most recent call last):",
                      '  File "jobs/train.py", line 142, in step', last])
