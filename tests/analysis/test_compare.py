"""`memsweep compare`: planted regressions are caught, reruns within the noise are not, and a
measured metric without 3 ok runs a side gets "noise unknown", not a verdict."""

import pandas as pd
import pytest
from msgspec.structs import replace
from sweepdata import make_record

from analysis.compare import summary_text
from analysis.regress import MIN_SAMPLES, SHARED, UNKNOWN, Thresholds, compare
from analysis.tidy import enrich
from bench import aa as aa_bench
from memsweep.cli import main
from results.frame import records_frame
from results.store import write_record
from suite.errors import UserInputError

THREE = tuple(range(MIN_SAMPLES))  # repetitions enough for a measured metric's verdict
CONFIGS = [(m, s, o) for m in ("tiny", "small") for s, o in ((0, "none"), (1, "cpu"), (3, "none"))]


def records(*, night="2026-11-24", partition=None, memory=1.0, speed=1.0, wobble=0.0,
            reps=(0, 1)):
    """The scenarios of CONFIGS, each repetition `wobble` apart in speed (run-to-run noise)."""
    return [make_record(model=m, stage=s, offload=o, repetition=r, night=night,
                        partition=partition, memory=memory,
                        speed=speed * (1 + wobble * (-1) ** r))
            for m, s, o in CONFIGS for r in reps]


def tidy(records_: list) -> pd.DataFrame:
    """The enriched frame of records, as `memsweep compare` loads each side."""
    return enrich(records_frame(records_))


def frame(**kw):
    return tidy(records(**kw))


def flagged(result) -> set[tuple[str, str]]:
    return {(r.metric, r.verdict) for r in result.regressions.itertuples()}


def test_a_rerun_within_the_noise_is_not_flagged():
    base = frame(wobble=0.01, reps=THREE)
    rerun = frame(night="2026-11-25", memory=1.005, speed=0.97, wobble=0.01, reps=THREE)
    result = compare(rerun, base)
    assert result.mode == "nightly" and result.matched == len(CONFIGS)
    assert result.regressions.empty
    assert compare(base, base).regressions.empty


def test_ten_percent_more_memory_is_a_regression():
    result = compare(frame(night="2026-11-25", memory=1.10, reps=THREE), frame(reps=THREE))
    assert flagged(result) == {("peak RSS", "regression"), ("memory held", "regression")}
    # Two runs a side: the ledger's exact bytes still give a verdict, the RSS does not.
    two = compare(frame(night="2026-11-25", memory=1.10), frame())
    assert flagged(two) == {("memory held", "regression")}
    assert set(two.unknown["metric"]) == {"peak RSS", "throughput"}
    held = result.table[result.table["metric"] == "memory held"]
    assert (held["verdict"] == "regression").all()
    assert held["change"].to_numpy() == pytest.approx(0.10, abs=1e-6)


def test_ten_percent_less_throughput_is_a_regression():
    result = compare(frame(night="2026-11-25", speed=0.90, reps=THREE), frame(reps=THREE))
    rows = result.table[result.table["metric"] == "throughput"]
    assert flagged(result) == {("throughput", "regression")}
    assert (rows["verdict"] == "regression").all()
    assert rows["change"].to_numpy() == pytest.approx(0.9 - 1, abs=1e-6)
    # the threshold came from the timed steps' spread: 3 noise levels, above the 5% floor
    step = 0.05 / 1.349 * 1.2533 / 5 ** 0.5
    assert rows["threshold"].to_numpy() == pytest.approx(3 * (2 * step ** 2) ** 0.5)


def test_without_three_runs_a_side_throughput_has_no_verdict(capsys):
    result = compare(frame(night="2026-11-25", speed=0.75), frame())  # 2 runs a side
    rows = result.table[result.table["metric"] == "throughput"]
    assert (rows["verdict"] == UNKNOWN).all() and rows["threshold"].isna().all()
    assert result.regressions.empty
    one = compare(frame(night="2026-11-25", speed=0.75, reps=THREE), frame(reps=(0,)))
    assert one.regressions.empty and len(one.unknown) == 2 * len(CONFIGS)  # RSS, throughput


def timed_at(records_: list, load: float, cpus: int = 2) -> list:
    """The records as if their steps were timed at host load `load` on `cpus` CPUs."""
    return [replace(r, measurements=replace(r.measurements, load_average=load, cpus=cpus))
            for r in records_]


def test_throughput_timed_on_shared_cpus_has_no_verdict(capsys):
    slower = records(night="2026-11-25", speed=0.75, reps=THREE)
    base = records(reps=THREE)
    # quiet on both sides (a load within the CPUs): the 25% loss is a regression
    quiet = compare(tidy(timed_at(slower, 2.3)), tidy(timed_at(base, 1.0)))
    assert flagged(quiet) == {("throughput", "regression")}
    # one side timed while other work shared its 2 CPUs: no throughput verdict, and why
    shared = compare(tidy(timed_at(slower, 7.4)), tidy(timed_at(base, 1.0)))
    rows = shared.table[shared.table["metric"] == "throughput"]
    assert shared.regressions.empty
    assert (rows["verdict"] == UNKNOWN).all() and (rows["why"] == SHARED).all()
    # memory verdicts do not depend on the load
    assert (shared.table[shared.table["metric"] == "memory held"]["verdict"] == "same").all()
    assert "CPUs shared while timed" in summary_text(shared, "a", "b", show_all=False)


def test_noisy_repetitions_raise_the_threshold():
    noisy = compare(frame(night="2026-11-25", speed=0.90, wobble=0.06, reps=THREE),
                    frame(wobble=0.06, reps=THREE))
    # three repetitions 12% apart: 6.5% noise per side, 9.2% for the difference, x3 = 28%
    assert noisy.regressions.empty
    strict = compare(frame(night="2026-11-25", speed=0.90, wobble=0.06, reps=THREE),
                     frame(wobble=0.06, reps=THREE), Thresholds(k=0.5))
    assert flagged(strict) == {("throughput", "regression")}


def test_a_scenario_that_no_longer_fits_is_a_regression():
    new = records(night="2026-11-25")
    new[0] = make_record(model="tiny", stage=0, offload="none", night="2026-11-25",
                         status="oom")
    new[1] = make_record(model="tiny", stage=0, offload="none", night="2026-11-25",
                         repetition=1, status="oom")
    result = compare(tidy(new), frame())
    (status,) = result.regressions.itertuples()
    assert (status.metric, status.new, status.model) == ("status", "oom", "tiny")


def test_partitions_in_common_are_compared_partition_by_partition():
    base = tidy(records(partition="a") + records(partition="b", speed=2.0))
    new = tidy(records(night="2026-11-25", partition="a")
                        + records(night="2026-11-25", partition="b", speed=2.0))
    result = compare(new, base)
    assert result.matched == 2 * len(CONFIGS) and result.regressions.empty


def test_one_partition_against_another_matches_by_parameters():
    fast = frame(partition="gpu-b", speed=1.3, reps=THREE)
    slow = frame(partition="gpu-a", reps=THREE)
    result = compare(slow, fast)
    assert result.mode == "hardware" and result.matched == len(CONFIGS)
    assert flagged(result) == {("throughput", "regression")}
    assert compare(fast, slow).regressions.empty
    with pytest.raises(UserInputError, match="one partition on each side"):
        compare(slow, tidy(records(partition="gpu-b") + records(partition="gpu-c")))


@pytest.mark.parametrize(("kw", "flag"), [({"k": -1}, "-k"), ({"memory_floor": 1.5},
                                                              "--memory-floor")])
def test_thresholds_are_checked(kw, flag):
    with pytest.raises(UserInputError, match=flag):
        Thresholds(**kw)


def write(root, recs):
    for r in recs:
        write_record(root, r)
    return str(root)


def test_cli_exit_codes(tmp_path, capsys):
    base = write(tmp_path / "base", records())
    same = write(tmp_path / "same", records(night="2026-11-25", speed=0.98))
    worse = write(tmp_path / "worse", records(night="2026-11-25", memory=1.10))
    assert main(["compare", same, base]) == 0
    out = capsys.readouterr().out
    assert "no regression" in out and "noise unknown, no verdict: peak RSS" in out
    assert "repetitions = 3" in out  # how to get one
    assert main(["compare", worse, base, "-o", str(tmp_path / "cmp.pdf")]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION" in out and "memory held" in out and "+10.0%" in out
    assert (tmp_path / "cmp.pdf").stat().st_size > 0
    assert main(["compare", worse, base, "--memory-floor", "15"]) == 0  # a looser floor
    assert main(["compare", str(tmp_path / "nope"), base]) == 2
    assert main(["compare", "2026-11-25", base]) == 2  # a night needs --history
    assert "--history" in capsys.readouterr().err


def test_cli_compares_nights_of_a_history(tmp_path):
    history = tmp_path / "history"
    write(history / "2026-11-23" / "local", records(night="2026-11-23", reps=THREE))
    write(history / "2026-11-24" / "local", records(night="2026-11-24", reps=THREE))
    write(history / "2026-11-25" / "local", records(night="2026-11-25", speed=0.9, reps=THREE))
    args = ["compare", "--history", str(history)]
    assert main([*args, "2026-11-25", "2026-11-23..2026-11-24"]) == 1
    assert main([*args, "2026-11-24", "2026-11-23"]) == 0
    assert main([*args, "2026-11-26", "2026-11-23"]) == 2  # no such night
    assert main([*args, "2026-11-25", "2026-11-24..2026-11-23"]) == 2  # a backwards range


def test_the_aa_benchmark_counts_verdicts_and_finds_a_planted_peak(tmp_path):
    # bench/aa.py's two halves on records of the same code: no alarm; then one planted scenario.
    a = write(tmp_path / "a", records(reps=THREE))
    write(tmp_path / "b", records(night="2026-11-25", reps=THREE))
    aa = compare(aa_bench.side(tmp_path / "b"), aa_bench.side(tmp_path / "a"))
    seen = aa_bench.counts(aa)
    assert seen["regression"] == seen["better"] == seen[UNKNOWN] == 0 and seen["same"] > 0
    named = aa_bench.plant(tmp_path / "b", tmp_path / "planted")
    result = compare(aa_bench.side(tmp_path / "planted"), aa_bench.side(tmp_path / "a"))
    assert [(r.metric, f"{r.model} · {r.strategy}") for r in result.regressions.itertuples()] \
        == [("peak RSS", named)]
    assert main(["compare", str(tmp_path / "planted"), a]) == 1
