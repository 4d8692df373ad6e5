"""A scenario is named by what differs from the catalogue's defaults, the same everywhere."""

from pathlib import Path

import suite.axes
from suite.axes import AXES, STRATEGY_AXES
from suite.scenario_name import BASELINE, naming_axes, scenario_name, strategy_label
from suite.sweep import load_sweep

SWEEPS = Path(__file__).parents[2] / "suite" / "sweeps"


def test_a_strategies_sweep_scenario_is_named_by_what_differs_from_the_defaults():
    sweep = load_sweep(SWEEPS / "strategies.toml")
    names = {scenario_name(s.values): s for s in sweep.scenarios}
    assert len(names) == len(sweep.scenarios)  # every scenario has a name of its own
    nvme = "base · 2 ranks · zero_stage=3 + offload_optimizer=nvme + offload_param=nvme"
    assert names[nvme]["nvme_path"] == "/tmp/memsweep-nvme"  # a setting: not in the name
    for name, s in names.items():
        away = [a for a in naming_axes() if s[a] != AXES[a].default]
        shown = name.split(" · ")[-1]
        assert shown == (" + ".join(f"{a}={s[a]}" for a in away) or BASELINE), name
    assert "tiny · 1 rank · baseline" in names
    assert "tiny · 2 ranks · seq 128 · baseline" in names
    assert "tiny · 1 rank · inference · precision=bf16 + quantize=int8" in names


def test_every_strategy_axis_but_a_setting_names_the_strategy():
    assert set(naming_axes()) == set(STRATEGY_AXES) - {"nvme_path"}
    assert strategy_label({"zero_stage": 3, "offload_optimizer": "nvme",
                           "nvme_path": "/tmp/x"}) == "zero_stage=3 + offload_optimizer=nvme"


def test_labels_name_the_axes_away_from_their_defaults_in_catalogue_order():
    assert strategy_label({a.name: a.default for a in AXES.values()}) == BASELINE
    assert strategy_label({"offload_optimizer": "cpu", "zero_stage": 2}) == \
        "zero_stage=2 + offload_optimizer=cpu"
    # workload axes are never part of a strategy; a missing or NaN axis is at its default
    assert strategy_label({"model": "small", "world_size": 8, "precision": None}) == BASELINE
    assert strategy_label({"zero_stage": 3.0, "precision": float("nan")}) == "zero_stage=3"


def test_a_new_strategy_axis_needs_no_change_here(monkeypatch):
    axes = {**AXES, "pruning_ratio": suite.axes.Axis(name="pruning_ratio", type=float,
                                                     default=0.0, help="test axis")}
    monkeypatch.setattr(suite.axes, "AXES", axes)
    monkeypatch.setattr(suite.axes, "STRATEGY_AXES", (*STRATEGY_AXES, "pruning_ratio"))
    assert strategy_label({"pruning_ratio": 0.5, "zero_stage": 3}) == \
        "zero_stage=3 + pruning_ratio=0.5"
    assert strategy_label({"pruning_ratio": 0.0}) == BASELINE


def test_a_long_workload_value_is_named_by_its_hash_and_repetitions_are_counted():
    name = scenario_name({"model": "small", "world_size": 4, "deepspeed_base": '{"a": ' +
                          "1" * 40 + "}"}, repetition=2)
    assert name.startswith("small · 4 ranks · deepspeed_base #") and name.endswith(
        " · baseline · rep 2")
