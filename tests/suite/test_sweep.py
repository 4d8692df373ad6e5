import json
import textwrap

import pytest

from memsweep.cli import main
from suite.errors import UserInputError
from suite.scenario import Scenario
from suite.sweep import load_sweep, parse_sweep

SMOKE = "suite/sweeps/smoke.toml"


def write(tmp_path, text):
    path = tmp_path / "s.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_smoke_sweep_expands_to_its_14_scenarios():
    sweep = load_sweep(SMOKE)
    # 2 models x 4 stages x 2 offloads = 16, less stage 0 + offload for each model (the file).
    assert len(sweep.scenarios) == 14 and len(sweep.excluded) == 2
    assert {s["zero_stage"] for s in sweep.scenarios} == {0, 1, 2, 3}
    assert all(s["world_size"] == 2 for s in sweep.scenarios)
    # stage 0 + offload is excluded by the catalogue rule, with its reason
    assert all("offload-needs-zero" in e.reason for e in sweep.excluded)
    assert len({s.run_id for s in sweep.scenarios}) == len(sweep.scenarios)


def test_run_id_is_stable_and_depends_on_every_input():
    base = dict(sweep="a", values={"model": "tiny"})
    s = Scenario.from_values(**base)
    assert s.run_id == Scenario.from_values(**base).run_id
    assert len(s.run_id) == 16 and int(s.run_id, 16) >= 0  # fixed-length hex: a safe file name
    others = [Scenario.from_values(sweep="b", values={"model": "tiny"}),
              Scenario.from_values(sweep="a", values={"model": "small"}),
              Scenario.from_values(sweep="a", values={"model": "tiny"}, repetition=1)]
    assert len({s.run_id, *(o.run_id for o in others)}) == 4


def test_scenario_json_round_trip():
    s = load_sweep(SMOKE).scenarios[3]
    assert Scenario.from_json(json.loads(json.dumps(s.to_json()))) == s


def test_exclude_rule_with_list_and_reason(tmp_path):
    sweep = load_sweep(write(tmp_path, """
        [sweep]
        name = "t"
        repetitions = 2
        [axes]
        zero_stage = [1, 2, 3]
        offload_optimizer = ["none", "cpu"]
        [[exclude]]
        zero_stage = [2, 3]
        offload_optimizer = "cpu"
        reason = "not today"
    """))
    assert len(sweep.scenarios) == 2 * 4
    assert [e.reason for e in sweep.excluded] == ["exclude[0]: not today"] * 2


@pytest.mark.parametrize("body, key, fix", [
    ('[sweep]\nname="t"\n[axes]\nmodle=["tiny"]\n', "modle", "did you mean 'model'"),
    ('[sweep]\nname="t"\n[axes]\nzero_stage=["1"]\n', "axes.zero_stage", "ZeRO"),
    ('[sweep]\nname="t"\n[axes]\nzero_stage=[]\n', "axes.zero_stage", "at least one value"),
    ('[sweep]\nname="t"\n[axes]\nzero_stage=[4]\n', "axes.zero_stage", "ZeRO"),
    ('[sweep]\nname="t"\nrepetitions=0\n[axes]\n', "sweep.repetitions", "repetitions = 3"),
    ('[sweep]\nname="t"\ntimed_steps="5"\n[axes]\n', "sweep.timed_steps", "timed_steps = 5"),
    ('[sweep]\n[axes]\n', "sweep.name", "name ="),
    ('[sweep]\nname="a b"\n[axes]\n', "sweep.name", "letters, digits"),
    ('[sweep]\nname="t"\n', "axes", "[axes]"),
    ('[sweep]\nname="t"\n[axes]\n[[exclude]]\nreason="x"\n', "exclude[0]", "zero_stage"),
    ('[sweep]\nname="t"\n[axes]\n[[exclude]]\nmodel="tiny"\n', "exclude", "memsweep plan"),
])
def test_bad_sweep_names_file_key_and_fix(tmp_path, body, key, fix):
    path = write(tmp_path, body)
    with pytest.raises(UserInputError) as err:
        load_sweep(path)
    message = str(err.value)
    assert str(path) in message and f"key '{key}'" in message and fix in message
    assert err.value.exit_code == 2


def test_toml_syntax_error_names_the_file(tmp_path):
    path = write(tmp_path, "[sweep\n")
    with pytest.raises(UserInputError, match="not valid TOML"):
        load_sweep(path)


def test_plan_cli_text_json_and_exit_code_2(tmp_path, capsys):
    assert main(["plan", SMOKE]) == 0
    text = capsys.readouterr().out
    assert "14 scenarios" in text and "offload-needs-zero" in text
    assert main(["plan", SMOKE, "--format", "json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert len(plan["scenarios"]) == 14 and len(plan["excluded"]) == 2
    assert plan["scenarios"][0]["run_id"] == load_sweep(SMOKE).scenarios[0].run_id
    bad = write(tmp_path, '[sweep]\nname="t"\nfoo=1\n[axes]\n')
    assert main(["plan", str(bad)]) == 2
    assert "sweep.foo" in capsys.readouterr().err


def test_parse_sweep_rejects_unknown_top_level_table():
    with pytest.raises(UserInputError, match="'axis'"):
        parse_sweep({"sweep": {"name": "t"}, "axes": {}, "axis": {}})


def test_plan_predict_marks_what_does_not_fit(capsys):
    assert main(["plan", SMOKE, "--predict", "--capacity", "1GiB"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line[:16].isalnum()]
    assert len(rows) == 14
    fits = [row.split()[-1] for row in rows]
    # ZeRO-0 fits in 1 GiB with the runtime; ZeRO-1-3's default reduce bucket (2 GB) does not
    assert "yes" in fits and "NO" in fits
    assert main(["plan", SMOKE, "--predict", "--format", "json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    # the default capacity is the scenario's device's: here RAM / 2 ranks
    assert all(s["predicted"]["fits"] for s in plan["scenarios"])
    assert main(["plan", SMOKE, "--capacity", "big"]) == 2


def test_run_ids_outlive_new_strategies():
    # The smoke sweep's first run_ids as the catalogue first named them: an axis added since
    # (tensor_parallel, bucket_sizes) at its default does not change them, so nightly
    # histories keep matching across versions.
    sweep = load_sweep("suite/sweeps/smoke.toml")
    assert [s.run_id for s in sweep.scenarios[:3]] == ["5aa9a7ec36fb4e15", "b17b2e4762ee102e",
                                                      "7c758d42f8e053ca"]
    on = Scenario.from_values(sweep="x", values={"model": "llama-tiny", "world_size": 2,
                                                 "tensor_parallel": 2})
    off = Scenario.from_values(sweep="x", values={"model": "llama-tiny", "world_size": 2})
    assert on.run_id != off.run_id and "tensor_parallel" not in off.hashed_params()
