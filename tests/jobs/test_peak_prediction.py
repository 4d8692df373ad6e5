"""Measured against predicted: the peak of live tensor bytes (jobs/peak_probe.py) of real
DeepSpeed runs against suite/peak_model.py, per rank, within 5 %.

Runs every training scenario (kind train or distill) of suite/sweeps/smoke.toml and of
suite/sweeps/strategies.toml once -- the smoke sweep's tiny runs are among strategies' --
in one MPI launch per world size (tests/jobs/batch_runs.py): GPT and Llama, tensor,
pipeline and sequence parallel, NVMe offload, every optimizer, pruning and distillation
among them (each scenario clears the mpu a previous engine left as DeepSpeed's global one,
so their order does not matter).
Also: at `small`, 2 ranks, fp32 AdamW, what DeepSpeed 0.19.8 does with the gradients at the
end of backward.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from suite.peak_model import predict_peak
from suite.scenario import RunSettings, Scenario
from suite.sweep import load_sweep

REPO = Path(__file__).resolve().parents[2]
MPIEXEC = Path(sys.executable).with_name("mpiexec")
TOLERANCE = 0.05
SETTINGS = {"warmup_steps": 1, "timed_steps": 1}
SWEEPS = ("smoke", "strategies")

pytestmark = pytest.mark.slow


def training(sweep: str) -> list[Scenario]:
    return [s for s in load_sweep(REPO / "suite" / "sweeps" / f"{sweep}.toml").scenarios
            if s.values["kind"] in ("train", "distill")]


def key(scenario: Scenario) -> str:
    return json.dumps(dict(scenario.params), sort_keys=True)


def run_batch(tmp: Path, name: str, scenarios: list[Scenario], ranks: int = 2) -> list[dict]:
    spec = tmp / f"{name}.json"
    spec.write_text(json.dumps([{"values": dict(s.params), "settings": SETTINGS}
                                for s in scenarios]))
    done = subprocess.run([str(MPIEXEC), "-n", str(ranks), sys.executable,
                           str(REPO / "tests" / "jobs" / "batch_runs.py"), str(spec)],
                          cwd=REPO, capture_output=True, text=True, timeout=3000)
    assert done.returncode == 0, done.stderr[-4000:]
    return [json.loads(x[6:]) for x in done.stdout.splitlines() if x.startswith("BATCH ")]


def ratios(record: dict) -> list[tuple[int, float]]:
    """[(rank, measured / predicted tensor peak)] of one record."""
    scenario = Scenario.from_json(record["scenario"])
    return [(rank["rank"], rank["tensor_peak_bytes"]
             / predict_peak(scenario.values, rank=rank["rank"]).peak_bytes)
            for rank in record["ranks"]]


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> dict[str, list[tuple[int, float]]]:
    """{scenario key: [(rank, ratio)]} for every training scenario of both sweeps."""
    tmp = tmp_path_factory.mktemp("peaks")
    unique = {key(s): s for sweep in SWEEPS for s in training(sweep)}
    by_size: dict[int, list[Scenario]] = {}
    for s in unique.values():
        by_size.setdefault(int(s.values["world_size"]), []).append(s)
    out = {}
    for size, scenarios in sorted(by_size.items()):
        records = run_batch(tmp, f"ranks{size}", scenarios, ranks=size)
        out.update({key(s): ratios(r) for s, r in zip(scenarios, records, strict=True)})
    return out


@pytest.mark.parametrize("sweep", SWEEPS)
def test_tensor_peak_within_5_percent_per_rank(sweep, measured):
    scenarios = training(sweep)
    found = [(s.run_id, rank, ratio) for s in scenarios for rank, ratio in measured[key(s)]]
    assert len(found) == sum(int(s.values["world_size"]) for s in scenarios)
    off = [f for f in found if abs(f[2] - 1) > TOLERANCE]
    assert not off, off


def test_small_zero_stages_as_deepspeed_0_19_8_has_them(tmp_path):
    """`small`, 2 ranks, fp32 AdamW. Not what the ZeRO paper suggests, and pinned here as
    measured: ZeRO-1 copies each gradient into the reduce bucket as backward produces it (it
    does not keep the full gradients until the end of backward), so with DeepSpeed's default
    bucket ZeRO-1 and ZeRO-2 peak alike, the 2 GB bucket dominating both; with buckets scaled
    to the model, ZeRO-2's last rank allocates its gradient partition early in backward and
    peaks above ZeRO-1, and ZeRO-3 keeps the whole model gathered (under
    stage3_max_live_parameters) and peaks above both. The prediction orders them alike."""
    base = {"model": "small", "world_size": 2, "precision": "fp32", "optimizer": "adamw"}
    stages = [{"zero_stage": 1}, {"zero_stage": 2}, {"zero_stage": 3}]
    scenarios = [Scenario.from_values(sweep="t", settings=RunSettings(**SETTINGS),
                                      values={**base, **extra, "bucket_sizes": buckets})
                 for buckets in ("deepspeed", "auto") for extra in stages]
    peaks = [max(r["tensor_peak_bytes"] for r in rec["ranks"])
             for rec in run_batch(tmp_path, "small", scenarios)]
    predicted = [predict_peak(s.values).peak_bytes for s in scenarios]
    assert abs(peaks[0] / peaks[1] - 1) < 0.01  # default buckets: ZeRO-1 = ZeRO-2
    auto, auto_predicted = peaks[3:], predicted[3:]
    assert auto[0] < auto[1] < auto[2]
    assert sorted(range(3), key=auto.__getitem__) == sorted(range(3),
                                                            key=auto_predicted.__getitem__)
    for measured, expected in zip(peaks, predicted, strict=True):
        assert abs(measured / expected - 1) < TOLERANCE
