"""The new user's sweep: `plan --predict` against host_mem_cap agrees with every run's outcome.

125m on 2 ranks, fp32 AdamW, ZeRO 0/2/3 with and without CPU optimizer offload, each rank
capped (RLIMIT_DATA, jobs/oom.py); and ZeRO-3 with the buckets scaled to the model
(bucket_sizes = "auto"). DeepSpeed's default reduce bucket (5e8 elements, 2 GB in fp32) is
what does not fit: the prediction says so (suite/peak_model.py) and the OOM record names it
(jobs/oom.py). The cap, 2.65 GiB, lies between what ZeRO-3 with scaled buckets is predicted
to need (2.52 GiB: tensor peak plus the runtime term, suite/prediction.py) and the
baseline's (2.80 GiB), so that the scaled buckets let ZeRO-3 fit where the baseline does not.
Slow: the runs that fit train 125m for two steps on this CPU: no warm-up, one timed step and
the probe step (jobs/train.py). A warm-up step would add a third step and change no outcome:
the second step is the first to hold the optimizer states through forward and backward, and
the baseline and ZeRO-3 with offload and scaled buckets run out of memory in it either way.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from results.load import load_records
from suite.plan_table import fit, plan_json
from suite.sweep import parse_sweep

REPO = Path(__file__).resolve().parents[2]
MPIEXEC = Path(sys.executable).with_name("mpiexec")
CAP = "2.65GiB"

pytestmark = pytest.mark.slow


def new_user_sweep():
    base = {"model": "125m", "world_size": 2, "precision": "fp32", "optimizer": "adamw"}
    return parse_sweep({"sweep": {"name": "new-user", "warmup_steps": 0, "timed_steps": 1,
                                  "host_mem_cap": CAP},
                        "axes": [{**base, "zero_stage": [0, 2, 3],
                                  "offload_optimizer": ["none", "cpu"]},
                                 {**base, "zero_stage": 3, "offload_optimizer": ["none", "cpu"],
                                  "bucket_sizes": "auto"}]})


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("newuser")
    sweep = new_user_sweep()
    plan = out / "plan.json"
    plan.write_text(plan_json(sweep))
    for i, _ in enumerate(sweep.scenarios):
        subprocess.run([str(MPIEXEC), "-n", "2", sys.executable, "-m", "jobs.worker",
                        "--plan", str(plan), "--index", str(i), "--out", str(out)],
                       cwd=REPO, capture_output=True, text=True, timeout=1200)
    found, bad = load_records(out)
    assert not bad
    by_id = {r.run_id: r for r in found}
    return {s.run_id: (s, by_id.get(s.run_id)) for s in sweep.scenarios}


def test_prediction_agrees_with_every_outcome(outcomes):
    wrong = []
    for scenario, record in outcomes.values():
        predicted = fit(scenario, None)
        status = record.status if record else "missing"
        if predicted["fits"] != (status == "ok"):
            wrong.append((dict(scenario.params), predicted["budget_bytes"] / 2**30, status))
    assert not wrong, wrong


def test_model_scaled_buckets_fit_where_the_default_does_not(outcomes):
    z3 = {s["bucket_sizes"]: r.status for s, r in outcomes.values()
          if s["zero_stage"] == 3 and s["offload_optimizer"] == "none"}
    assert z3 == {"deepspeed": "oom", "auto": "ok"}
    [baseline] = [r.status for s, r in outcomes.values() if s["zero_stage"] == 0]
    assert baseline == "oom"


def test_the_oom_record_names_the_bucket(outcomes):
    """Where the allocation that failed is DeepSpeed's default reduce bucket (2,000,000,000
    bytes in fp32), the record says so; ZeRO-2 without offload fails there."""
    named = {}
    for scenario, record in outcomes.values():
        if record.status == "oom" and record.oom.requested_bytes == 4 * int(5e8):
            assert record.oom.allocation and "reduce bucket" in record.oom.allocation
            named[(scenario["zero_stage"], scenario["offload_optimizer"])] = True
    assert (2, "none") in named
