"""The summary's sentences state the numbers of the frame they were computed from."""

import pytest
from sweepdata import CONFIGS, make_record

from analysis.analysis import analyse
from analysis.findings import findings, nightly_finding
from analysis.labels import BASELINE
from analysis.regress import compare
from results.frame import records_frame


@pytest.fixture(scope="module")
def runs():
    """tiny and small, every config, on 2 and 4 ranks, on partitions a and b (b 1.5x as
    fast); small's baseline on 4 ranks ran out of memory."""
    return records_frame([
        make_record(model=m, stage=s, offload=o, world=w, partition=p,
                    speed=1.5 if p == "b" else 1.0,
                    status="oom" if (m, s, o, w) == ("small", 0, "none", 4) else "ok")
        for m in ("tiny", "small") for s, o in CONFIGS for w in (2, 4) for p in ("a", "b")])


@pytest.fixture(scope="module")
def found(runs):
    return {f.section: f for f in reversed(findings(analyse(runs)))}  # the first of each section


def pct(value: float) -> str:
    return f"{value:.0f}%"


def test_runs_sentence_counts_the_statuses(runs, found):
    f = found["Runs"]
    assert f.values == {"runs": len(runs), "ok": int((runs["status"] == "ok").sum()),
                        "oom": 2, "other": 0}
    assert f.text.startswith(f"{len(runs)} runs in the night of 2026-11-25, on 2 partitions")
    assert "2 out of memory" in f.text


def test_the_biggest_saving_is_stated_with_its_cost(runs, found):
    f = found["Strategies vs baseline"]
    v = f.values
    # recomputed from the frame: the setup's largest model with an ok baseline
    setup = runs[(runs["world_size"] == v["setup"]["world_size"])
                 & (runs["partition"] == v["setup"]["partition"])]
    ok = setup[(setup["status"] == "ok") & (setup["model"] == v["model"])]
    base = ok[(ok["zero_stage"] == 0) & (ok["offload_optimizer"] == "none")]
    assert len(base) == 1
    saved = {(r.zero_stage, r.offload_optimizer): 100 * (1 - r.peak_host_rss_bytes
                                                          / base.iloc[0]["peak_host_rss_bytes"])
             for r in ok.itertuples()}
    best = max(saved, key=saved.get)
    label = f"zero_stage={best[0]}" + ("" if best[1] == "none" else " + offload_optimizer=cpu")
    assert v["strategy"] == label
    assert v["memory_saved_pct"] == pytest.approx(saved[best])
    chosen = ok[(ok["zero_stage"] == best[0]) & (ok["offload_optimizer"] == best[1])].iloc[0]
    cost = 100 * (1 - chosen["samples_per_s"] / base.iloc[0]["samples_per_s"])
    assert v["throughput_cost_pct"] == pytest.approx(cost)
    assert f.text.startswith(f"{label} cut peak host RSS by {pct(saved[best])} for "
                             f"{v['model']}")
    assert f"at a {pct(cost)} throughput cost" in f.text
    assert f"final loss {-0.1 * best[0]:+.3f}" in f.text


def test_on_the_cpu_the_ledger_saving_is_stated_beside_the_rss(runs):
    held = [f for f in findings(analyse(runs)) if "model states" in f.text]
    assert held, "a CPU sweep states what the ledger saved"
    for f in held:
        v = f.values
        ok = runs[(runs["model"] == v["model"]) & (runs["status"] == "ok")
                  & (runs["world_size"] == v["setup"]["world_size"])
                  & (runs["partition"] == v["setup"]["partition"])]
        total = ok[["params_bytes", "grads_bytes", "master_params_bytes",
                    "optimizer_state_bytes"]].sum(axis=1)
        per = total.groupby([ok["zero_stage"], ok["offload_optimizer"]]).median()
        saved = 100 * (1 - per.drop((0, "none")) / per[(0, "none")])
        best = {f"zero_stage={s}" + ("" if o == "none" else " + offload_optimizer=cpu")
                for (s, o), x in saved.items() if x == pytest.approx(saved.max())}
        assert v["held_saved_pct"] == pytest.approx(saved.max())
        assert v["strategy"] in best  # ties: the synthetic ledger ignores offload
        assert f"by {pct(v['held_saved_pct'])} for {v['model']}" in f.text


def test_no_ledger_sentence_where_the_peak_is_device_memory():
    gpu = records_frame([make_record(model="tiny", stage=s, offload=o, device="cuda")
                         for s, o in CONFIGS])
    assert not [f for f in findings(analyse(gpu)) if "model states" in f.text]


def test_when_every_strategy_grows_the_peak_the_sentence_says_the_smallest_increase():
    grown = records_frame([make_record(model="tiny", stage=s, offload=o,
                                       memory=1.0 if (s, o) == (0, "none") else 1.5 + 0.1 * s)
                           for s, o in CONFIGS])
    (f,) = [f for f in findings(analyse(grown)) if f.section == "Strategies vs baseline"
            and f.text.startswith("No strategy")]
    assert f.values["memory_saved_pct"] < 0
    assert f"the smallest increase: {f.values['strategy']}, " \
           f"{-f.values['memory_saved_pct']:+.1f}%" in f.text


def test_the_largest_size_sentence_names_the_baselines_and_the_best(found):
    f = found["Largest model that fits"]
    assert f.values["baseline"] in ("tiny", "small")
    assert f"the baseline fits up to {f.values['baseline']}" in f.text
    assert f"{f.values['strategy']} fits up to {f.values['largest']}" in f.text
    if f.values["setup"]["world_size"] == 4:  # small's baseline ran out of memory there
        assert f.values["baseline"] == "tiny" and f.values["largest"] == "small"


def test_the_pareto_sentence_lists_the_front(found):
    f = found["Pareto front"]
    # on the CPU, offload costs host memory and time: never on the front
    assert "zero_stage=3" in f.values["front"]
    assert set(f.values["front"]) <= {BASELINE, "zero_stage=1", "zero_stage=2", "zero_stage=3"}
    assert f"{len(f.values['front'])} of {f.values['strategies']} strategies" in f.text
    assert ", ".join(f.values["front"]) in f.text


def test_the_scaling_sentence_matches_the_runs(runs, found):
    f = found["Scaling with the world size"]
    v = f.values
    stage = int(v["strategy"].split("=")[1].split(" ")[0])
    mine = runs[(runs["model"] == v["model"]) & (runs["zero_stage"] == stage)
                & (runs["offload_optimizer"] == ("cpu" if "offload" in v["strategy"]
                                                 else "none"))]
    peaks = mine.groupby(["partition", "world_size"])["peak_host_rss_bytes"].median()
    drops = {p: 100 * (1 - peaks[(p, 4)] / peaks[(p, 2)]) for p in ("a", "b")}
    assert any(v["memory_drop_pct"] == pytest.approx(d) for d in drops.values())
    assert f"falls by {pct(v['memory_drop_pct'])} from 2 to 4 ranks" in f.text


def test_the_partition_sentence_states_the_speed_ratio(found):
    f = found["Partitions side by side"]
    assert f.values["speed"] == pytest.approx(1.5)
    assert f.values["memory"] == pytest.approx(1.0)
    assert f.text.startswith("b ran the same scenarios 1.50× as fast as a")
    assert "+0% peak memory" in f.text


def test_the_nightly_sentence_counts_the_regressions(runs):
    runs = analyse(runs).frame
    later = runs.assign(held_bytes=runs["held_bytes"] * 1.2,
                        samples_per_s=runs["samples_per_s"] * 0.8)
    result = compare(later, runs)
    f = nightly_finding(result, ("tonight", "before"))
    n = len(result.regressions)
    assert n == f.values["regressions"] > 0
    assert f.text.startswith(f"{n} regressions in tonight against before")
    assert "the largest change: memory held +20% for" in f.text
    # One run a scenario: the throughput's noise is unknown, and the sentence says what to do.
    assert f.values["unknown"] > 0 and "repetitions = 3" in f.text
    quiet = compare(runs, runs)
    g = nightly_finding(quiet, None)
    assert g.text.startswith("No regression") and str(quiet.matched) in g.text
