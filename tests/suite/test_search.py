"""The capacity search's pure parts: the [search] table, the ladder, the bisection."""

from __future__ import annotations

import math

import pytest

from memsweep.cli import main
from suite.errors import UserInputError
from suite.models import MODELS, model_spec
from suite.search import SearchSpec, model_ladder, parse_search
from suite.sweep import parse_sweep

MODEL = SearchSpec(axis="model", family="gpt", lower="small", upper="1.3b", resolution=0.10)


def probe_until_done(spec: SearchSpec, boundary: float, start_at: float) -> tuple[int, int, int]:
    """(probes, last ok index, first failed index) against a boundary in `size` units."""
    ladder = spec.ladder()
    sizes = [spec.size(v) for v in ladder]
    b = spec.bisection(ladder, int(start_at * (len(ladder) - 1)))
    n = 0
    while (i := b.next()) is not None:
        b.record(i, sizes[i] <= boundary)
        n += 1
        assert n < 30, "the bisection does not end"
    return n, b.ok, b.failed


def test_the_model_ladder_climbs_the_family_strictly():
    ladder = model_ladder(MODELS["small"], MODELS["1.3b"])
    sizes = [s.n_params for s in ladder]
    assert ladder[0] == MODELS["small"] and ladder[-1] == MODELS["1.3b"]
    assert all(a < b for a, b in zip(sizes, sizes[1:], strict=False))
    # dense enough to bracket to 10% nearly everywhere (one layer more is a step of its own)
    assert sum(b / a > 1.10 for a, b in zip(sizes, sizes[1:], strict=False)) <= 6
    assert all(s.family == "gpt" and s.d_model % s.n_head == 0 for s in ladder)
    # each value spells its dimensions: the probe's run_id depends on them
    assert all(model_spec(v).n_params == s
               for v, s in zip(MODEL.ladder(), sizes, strict=True))


def test_a_llama_ladder_keeps_grouped_query_attention():
    ladder = model_ladder(MODELS["llama-small"], MODELS["llama3.1-8b"])
    assert all(s.n_head // s.kv_heads == 2 for s in ladder[:-1])  # llama-small's group
    assert all(not s.ties for s in ladder)


@pytest.mark.parametrize("boundary", [4e6, 2e7, 1.5e8, 7e8, 1.25e9])
@pytest.mark.parametrize("start_at", [0.0, 0.3, 0.7, 1.0])
def test_the_bisection_brackets_within_the_resolution(boundary, start_at):
    n, ok, failed = probe_until_done(MODEL, boundary, start_at)
    sizes = [MODEL.size(v) for v in MODEL.ladder()]
    assert sizes[ok] <= boundary < sizes[failed]
    assert failed == ok + 1 or sizes[failed] <= sizes[ok] * 1.10
    # log2(range / resolution) + 2 probes, with some slack for a far-off start
    steps = math.log(sizes[-1] / sizes[0]) / math.log(1.10)
    assert n <= 2 * math.log2(steps) + 2


def test_a_good_prediction_costs_few_probes():
    sizes = [MODEL.size(v) for v in MODEL.ladder()]
    target = 2e8
    start = max(i for i, s in enumerate(sizes) if s <= target) / (len(sizes) - 1)
    n, _, _ = probe_until_done(MODEL, target, start)
    assert n == 2  # the predicted value (ok), then the farthest within a resolution (oom)


def test_ends_outside_the_range_are_said():
    n, ok, failed = probe_until_done(MODEL, 1e12, 0.5)
    assert ok == len(MODEL.ladder()) - 1 and failed == len(MODEL.ladder())
    n, ok, failed = probe_until_done(MODEL, 1.0, 0.5)
    assert ok == -1 and failed == 0


def test_integer_axes_bisect_to_one_step():
    spec = SearchSpec(axis="micro_batch", lower=1, upper=64, resolution=1)
    for boundary in (1, 5, 33, 63):
        n, ok, failed = probe_until_done(spec, boundary, 0.2)
        assert spec.ladder()[ok] == boundary and spec.ladder()[failed] == boundary + 1


@pytest.mark.parametrize("table, key", [
    ({"axis": "zero_stage", "from": 0, "to": 3}, "search.axis"),
    ({"axis": "model", "from": "small"}, "search.to"),
    ({"axis": "model", "from": "1.3b", "to": "small"}, "search.to"),
    ({"axis": "model", "from": "small", "to": "llama2-7b"}, "search.to"),
    ({"axis": "model", "from": "small", "to": "huge"}, "search.to"),
    ({"axis": "model", "from": "small", "to": "1.3b", "resolution": 2}, "search.resolution"),
    ({"axis": "micro_batch", "from": 8, "to": 2}, "search.to"),
    ({"axis": "seq_len", "from": "a", "to": 2}, "search.from"),
    ({"axis": "micro_batch", "from": 1, "to": 8, "resolution": 0.5}, "search.resolution"),
    ({"axis": "model", "from": "small", "to": "1.3b", "step": 1}, "search.step"),
])
def test_bad_search_tables_name_the_key(table, key):
    with pytest.raises(UserInputError) as e:
        parse_search(table, source="s.toml")
    assert e.value.key == key and e.value.fix


SWEEP = {"sweep": {"name": "s", "host_mem_cap": "3GiB"}, "axes": {"world_size": 2},
         "search": {"axis": "model", "from": "tiny", "to": "base", "resolution": 0.2}}


def test_a_search_sweep_has_one_scenario_per_combination_at_the_lower_end():
    sweep = parse_sweep({**SWEEP, "axes": {"world_size": 2, "zero_stage": [0, 1]}})
    assert [s["model"] for s in sweep.scenarios] == ["tiny", "tiny"]
    assert sweep.search.axis == "model"


@pytest.mark.parametrize("change, key", [
    ({"sweep": {"name": "s"}}, "sweep.host_mem_cap"),  # no budget on the CPU
    ({"sweep": {"name": "s", "host_mem_cap": "100MiB"}}, "sweep.host_mem_cap"),  # < runtime
    ({"axes": {"world_size": 2, "model": ["tiny", "small"]}}, "axes.model"),  # searched
    ({"sweep": {"name": "s", "host_mem_cap": "400MiB"},  # from is predicted not to fit
      "search": {"axis": "model", "from": "base", "to": "125m"}}, "search.from"),
])
def test_searches_that_cannot_answer_exit_2_before_anything_runs(tmp_path, capsys, change,
                                                                  key):
    with pytest.raises(UserInputError) as e:
        parse_sweep({**SWEEP, **change}, source="s.toml")
    assert e.value.key == key


def test_the_cli_refuses_a_bad_search_with_exit_2(tmp_path, capsys):
    (tmp_path / "s.toml").write_text('[sweep]\nname = "s"\n[axes]\nworld_size = 2\n'
                                     '[search]\naxis = "model"\nfrom = "base"\nto = "tiny"\n')
    assert main(["run", str(tmp_path / "s.toml"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "s.toml" in err and "search.to" in err
    assert not (tmp_path / "o").exists()
