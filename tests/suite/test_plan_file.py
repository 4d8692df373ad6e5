"""The plan file: one writer, one reader that validates every read."""

from __future__ import annotations

import json

import pytest

from suite.errors import UserInputError
from suite.plan import PLAN_FILE, Plan, plan_path, read_scenario
from suite.sweep import parse_sweep


@pytest.fixture
def plan():
    axes = {"zero_stage": [0, 1, 3], "offload_param": ["none", "cpu"]}
    return Plan.of(parse_sweep({"sweep": {"name": "p"}, "axes": axes}))


def test_write_then_read_gives_the_same_plan(tmp_path, plan):
    plan.write(plan_path(tmp_path))
    assert (tmp_path / PLAN_FILE).exists()
    again = Plan.read(plan_path(tmp_path))
    assert again == plan and again.excluded and len(again.scenarios) == 4


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d.pop("scenarios"), "no \"scenarios\" list"),
    (lambda d: d.update(sweep=3), "\"sweep\" is missing"),
    (lambda d: d["scenarios"][1]["params"].update(zero_stage=0), "scenario 1 is not valid: "
                                                                  "run_id"),
    (lambda d: d["scenarios"][0]["params"].update(zero_stage=7), "scenario 0 is not valid"),
    (lambda d: d["scenarios"].append("x"), "scenario 4 is not a JSON object"),
    (lambda d: d["excluded"].append({"params": {}}), "\"excluded\" is not a list"),
])
def test_every_read_is_validated_and_names_the_file(tmp_path, plan, edit, message):
    data = plan.to_json()
    edit(data)
    path = tmp_path / PLAN_FILE
    path.write_text(json.dumps(data))
    with pytest.raises(UserInputError, match=message) as caught:
        Plan.read(path)
    assert caught.value.source == str(path)


def test_read_scenario_by_index_or_run_id_names_the_file(tmp_path, plan):
    plan.write(tmp_path / PLAN_FILE)
    assert read_scenario(tmp_path / PLAN_FILE, index=2) == plan.scenarios[2]
    assert read_scenario(tmp_path / PLAN_FILE, run_id=plan.scenarios[3].run_id) == plan.scenarios[3]
    with pytest.raises(UserInputError, match="outside the plan's 4 scenarios") as caught:
        read_scenario(tmp_path / PLAN_FILE, index=4)
    assert caught.value.source == str(tmp_path / PLAN_FILE)
