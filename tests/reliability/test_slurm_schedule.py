"""`memsweep faults --slurm`: what its schedule covers and how a fault point is given; no
cluster needed (the campaign itself: tests/slurm/test_slurm_faults.py)."""

from __future__ import annotations

import json

import pytest

from memsweep.cli import main
from reliability.fault_point import FAULT_ENV, POINTS, SIGNALS, FaultPoint, wanted
from reliability.slurm_campaign import DEFAULT_FAULTS, schedule
from reliability.slurm_cases import SLURM_KINDS


def test_the_default_campaign_has_every_slurm_fault_and_each_signal_on_the_real_worker():
    plan = schedule(DEFAULT_FAULTS)
    assert [name for name, _ in plan[:len(SLURM_KINDS)]] == list(SLURM_KINDS)
    real = [k for name, k in plan if name.startswith("ds-")]
    assert sorted(n.split("-")[1] for n, _ in plan if n.startswith("ds-")) == \
        sorted(s.lower() for s in SIGNALS)
    assert len(real) == DEFAULT_FAULTS - len(SLURM_KINDS)
    assert {k.cluster for _, k in plan} == {"single-node", "two-node"}


def test_forty_faults_reach_every_signal_in_every_point_with_offload_and_zero3():
    plan = schedule(40)
    assert len(plan) == 40
    real = [(name, k) for name, k in plan if k.worker == "deepspeed"]
    assert len(real) >= 10
    assert {n for n, _ in real if n.startswith("ds-")} == \
        {f"ds-{s.lower()}-{p}" for s in SIGNALS for p in POINTS}
    axes = [k.axes for n, k in real if n.startswith("ds-")]
    assert any(a.get("zero_stage") == 3 for a in axes)
    assert any(a.get("offload_optimizer") == "cpu" for a in axes)
    assert any(a.get("offload_param") == "cpu" for a in axes)
    assert {k.cluster for n, k in real if n.startswith("ds-")} == {"single-node", "two-node"}


def test_a_fault_point_is_armed_only_in_its_run_and_rank():
    env = {FAULT_ENV: json.dumps({"r1": {"rank": 1, "point": "backward", "step": 3,
                                         "signal": "SIGKILL"}}), "PMI_RANK": "1"}
    argv = ["--plan", "p", "--run-id", "r1"]
    assert wanted(argv, env) == FaultPoint(rank=1, point="backward", step=3, signal="SIGKILL")
    assert wanted(argv, {**env, "PMI_RANK": "0"}) is None
    assert wanted(["--run-id", "r2"], env) is None
    assert wanted(argv, {}) is None


@pytest.mark.parametrize("bad", [{"point": "loss"}, {"signal": "SIGHUP"}, {"step": 0}])
def test_a_bad_fault_point_names_the_key_and_the_choices(bad):
    given = {"rank": 0, "point": "step", "step": 2, "signal": "SIGTERM", **bad}
    with pytest.raises(ValueError, match=FAULT_ENV):
        FaultPoint(**given)


def test_deepspeed_cases_come_with_faults_not_deepspeed(tmp_path, capsys):
    assert main(["faults", "--slurm", "--deepspeed", "2", "--out", str(tmp_path / "c")]) == 2
    assert "--deepspeed" in capsys.readouterr().err
