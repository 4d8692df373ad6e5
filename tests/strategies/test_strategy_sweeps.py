"""Sweep format growth ([[axes]], deepspeed_base), plan --explain, and the shipped sweeps."""

from __future__ import annotations

import json
import textwrap

import pytest

from memsweep.cli import main
from suite.errors import UserInputError
from suite.strategies import STRATEGIES
from suite.sweep import load_sweep

SWEEPS = "suite/sweeps"
CLUSTER = ["125m", "350m", "760m", "1.3b", "2.7b", "6.7b", "13b"]


def write(tmp_path, text, name="s.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_axes_tables_are_a_union_of_products_each_combination_once(tmp_path):
    sweep = load_sweep(write(tmp_path, """
        [sweep]
        name = "t"
        [[axes]]
        zero_stage = [0, 1]
        [[axes]]
        zero_stage = [1, 2]
        optimizer = "sgd"
        [[axes]]
        zero_stage = 0
    """))
    got = [(s["zero_stage"], s["optimizer"]) for s in sweep.scenarios]
    assert got == [(0, "adamw"), (1, "adamw"), (1, "sgd"), (2, "sgd")]
    assert sweep.axes["zero_stage"] == (0, 1, 2)


def test_deepspeed_base_is_read_relative_to_the_sweep_and_goes_into_the_plan(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf/base.json").write_text('{"gradient_clipping": 0.5}')
    path = write(tmp_path, """
        [sweep]
        name = "t"
        deepspeed_base = "conf/base.json"
        [axes]
        zero_stage = [0, 1]
    """)
    sweep = load_sweep(path)
    assert all(json.loads(s["deepspeed_base"]) == {"gradient_clipping": 0.5}
               for s in sweep.scenarios)
    plain = load_sweep(write(tmp_path, '[sweep]\nname = "t"\n[axes]\nzero_stage = [0, 1]\n',
                             "p.toml"))
    assert {s.run_id for s in sweep.scenarios}.isdisjoint(s.run_id for s in plain.scenarios)


@pytest.mark.parametrize("content, message", [
    (None, "cannot read"), ("{not json", "not valid JSON"), ("[1, 2]", "not an object")])
def test_bad_deepspeed_base_names_the_key_and_the_fix(tmp_path, content, message):
    if content is not None:
        (tmp_path / "b.json").write_text(content)
    path = write(tmp_path, '[sweep]\nname = "t"\ndeepspeed_base = "b.json"\n[axes]\n')
    with pytest.raises(UserInputError) as err:
        load_sweep(path)
    assert message in str(err.value) and "sweep.deepspeed_base" in str(err.value)
    assert "fix:" in str(err.value)


def test_deepspeed_base_is_not_an_axis_value(tmp_path):
    path = write(tmp_path, '[sweep]\nname = "t"\n[axes]\ndeepspeed_base = "{}"\n')
    with pytest.raises(UserInputError, match=r"\[sweep\]"):
        load_sweep(path)


def test_plan_explain_shows_the_resolved_config(capsys):
    sweep = load_sweep(f"{SWEEPS}/strategies.toml")
    nvme = next(s for s in sweep.scenarios if s["offload_param"] == "nvme")
    assert main(["plan", f"{SWEEPS}/strategies.toml", "--explain", nvme.run_id]) == 0
    out = capsys.readouterr().out
    assert f"/tmp/memsweep-nvme/{nvme.run_id}" in out and '"aio"' in out
    assert "strategies on: zero, offload" in out
    preset = next(s for s in sweep.scenarios if s["compression"] == "pruned-int8")
    assert main(["plan", f"{SWEEPS}/strategies.toml", "--explain", preset.run_id,
                 "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["implied"] == {"pruning": "structured-50", "quantize": "int8"}
    assert [t.split(":")[0] for t in info["transforms"]] == ["pruning", "quantization"]
    assert info["deepspeed_config"] is None  # inference: no engine


def test_plan_explain_of_an_unknown_or_excluded_run(capsys):
    assert main(["plan", f"{SWEEPS}/smoke.toml", "--explain", "0123456789abcdef"]) == 2
    assert "no scenario with run_id" in capsys.readouterr().err


def _covered(sweep) -> set[str]:
    """Strategies on in some scenario, or excluded in some combination with their rule."""
    on = {s.name for sc in sweep.scenarios for s in STRATEGIES if s.active(sc.values)
          or any(sc[u] != d for u, d in (("world_size", 1), ("micro_batch", 4),
                                          ("seq_len", 64), ("grad_accum", 1), ("device", "cpu"))
                 if u in s.uses)}
    return on


def test_the_strategies_sweep_has_every_strategy_and_the_rules_show_the_gpu_ones():
    sweep = load_sweep(f"{SWEEPS}/strategies.toml")
    # hardware: this sweep is the CPU's; its other devices show as the GPU rules below.
    assert _covered(sweep) >= {s.name for s in STRATEGIES} - {"allocator", "hardware"}
    assert {s["device"] for s in sweep.scenarios} == {"cpu"}
    reasons = {e.reason.split(":")[0] for e in sweep.excluded}
    assert {"fp16-needs-gpu", "pin-memory-needs-gpu", "allocator-needs-cuda"} <= reasons
    assert len(sweep.scenarios) <= 47  # about 20 minutes on 2 cores (a 2-rank run ~30 s)


def test_the_nightly_sweep_plans_every_strategy_on_gpus_across_cluster_sizes(capsys):
    sweep = load_sweep(f"{SWEEPS}/nightly.toml")
    assert _covered(sweep) == {s.name for s in STRATEGIES}
    assert {s["device"] for s in sweep.scenarios} == {"cuda"}
    assert {s["model"] for s in sweep.scenarios} == set(CLUSTER) | {"llama3.1-8b",
                                                                     "llama3.1-70b"}
    assert "teacher-larger-than-student" in {e.reason.split(":")[0] for e in sweep.excluded}
    assert main(["plan", f"{SWEEPS}/nightly.toml"]) == 0
    assert f"{len(sweep.scenarios)} scenarios" in capsys.readouterr().out
