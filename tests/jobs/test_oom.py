"""Running out of memory is a result: a real allocation refused under the scenario's host cap
ends the run `oom` with its phase and the memory reached, and the sweep goes on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.oom import oom_info
from jobs.rank_outcome import classify
from jobs.record import failed_record, now
from results.load import load_records
from results.schema import RunRecord
from slurm.local import run_sweep
from suite.errors import UserInputError
from suite.scenario import RunSettings, Scenario
from suite.sweep import parse_sweep

REPO = Path(__file__).resolve().parents[2]

CAPPED = """
import json, sys
from jobs import oom
import torch
cap = oom.apply_host_cap("{cap}")
try:
    torch.empty(2**31, dtype=torch.uint8)  # 2 GiB: past the cap, untouched or not
except RuntimeError as e:
    reached = oom.data_bytes()
    oom.lift_host_cap()
    held = torch.ones(2**28, dtype=torch.uint8)  # lifted: 256 MiB is fine again
    info = oom.oom_info(e, rank=0, phase="init", device="cpu", host_cap=cap,
                        host_reached=reached)
    print(json.dumps({{"message": str(e), "info": info.to_json()}}))
"""


def test_a_capped_allocation_raises_a_catchable_error_classified_oom():
    done = subprocess.run([sys.executable, "-c", CAPPED.format(cap="1GiB")], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert classify(RuntimeError(result["message"])) == "oom"
    info = result["info"]
    assert info["kind"] == "host" and info["phase"] == "init" and info["limit_bytes"] == 2**30
    assert info["requested_bytes"] == 2**31
    assert 0 < info["reached_bytes"] <= 2**30  # VmData when refused: what the cap limits


def test_a_cuda_oom_is_a_device_oom_with_the_request():
    error = type("OutOfMemoryError", (RuntimeError,), {})(
        "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79 GiB")
    assert classify(error) == "oom"
    info = oom_info(RuntimeError("you tried to allocate 64 bytes"), rank=1, phase="timed",
                    device="cpu", host_cap=None)
    assert (info.kind, info.requested_bytes, info.rank, info.limit_bytes) == ("host", 64, 1, None)


def test_an_oom_record_carries_where_and_how_much():
    scenario = Scenario.from_values(sweep="t", values={"world_size": 2})
    info = oom_info(MemoryError(), rank=0, phase="warmup", device="cpu", host_cap=123)
    record = failed_record(scenario, MemoryError(), "tb", attempt=1, started=now(),
                           fingerprint={}, oom=info)
    assert record.status == "oom" and record.oom.phase == "warmup"
    assert RunRecord.from_json(record.to_json()) == record
    failed = failed_record(scenario, ValueError("x"), "tb", attempt=1, started=now(),
                           fingerprint={}, oom=info)
    assert failed.status == "failed" and failed.oom is None


def test_host_mem_cap_is_a_sweep_setting_that_keeps_earlier_run_ids():
    plain = Scenario.from_values(sweep="t", values={})
    capped = Scenario.from_values(sweep="t", values={}, settings=RunSettings(host_mem_cap="1GiB"))
    assert "host_mem_cap" not in plain.settings.hashed() and plain.run_id != capped.run_id
    assert Scenario.from_json(capped.to_json()) == capped
    with pytest.raises(UserInputError) as e:
        RunSettings(host_mem_cap="lots")
    assert e.value.key == "host_mem_cap"


@pytest.mark.slow
def test_a_scenario_past_the_cap_is_oom_and_the_sweep_goes_on(tmp_path):
    # base needs ~0.7 GiB of data segment per rank at seq_len 128 (Python, torch and DeepSpeed
    # are ~0.3 of it), tiny ~0.4: a 550 MiB cap stops base and lets tiny run.
    sweep = parse_sweep({"sweep": {"name": "oom", "warmup_steps": 1, "timed_steps": 1,
                                   "host_mem_cap": "550MiB", "timeout_s": 300},
                         "axes": {"model": ["base", "tiny"], "world_size": 2, "seq_len": 128}})
    assert run_sweep(sweep, out=tmp_path) == 1  # a run not ok: exit 1, after every run
    found, bad = load_records(tmp_path)
    by_model = {r.scenario["params"]["model"]: r for r in found}
    assert not bad and set(by_model) == {"base", "tiny"}
    base, tiny = by_model["base"], by_model["tiny"]
    assert base.status == "oom" and "can't allocate memory" in base.reason
    assert base.oom.kind == "host" and base.oom.limit_bytes == 550 * 2**20
    assert base.oom.phase in ("init", "warmup", "timed", "forward", "backward", "step")
    # VmData when the allocation was refused: under the cap, and the request would pass it.
    assert 0.9 * base.oom.limit_bytes < base.oom.reached_bytes <= base.oom.limit_bytes
    assert tiny.status == "ok" and tiny.measurements.final_loss > 0
