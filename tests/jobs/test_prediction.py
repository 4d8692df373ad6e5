"""Measured against predicted: the ledger of real DeepSpeed runs against suite/memory_model.py.

A grid of ZeRO stage x optimizer offload x optimizer x precision (and accumulation, which
decides where ZeRO-1/2 keep gradients) on 2 ranks, model tiny, in one MPI launch; and a
3-rank launch where partitions need padding (ZeRO-3 pads each parameter to a multiple of N;
ZeRO-1/2 pad the flat group to 2N, shown on modules with odd parameter sizes). Every
category of every rank within 1 % of the model ("deepspeed" mode); in fact they are equal.
"""

from __future__ import annotations

import pytest
from ledger_batches import LEDGER, grid

from results.schema import RunRecord
from suite.memory_model import predict
from suite.scenario import Scenario

TOLERANCE = 0.01

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(ledger_runs) -> dict:
    """The grid in one 2-rank launch; PADDED and TOYS in one 3-rank launch (shared with
    test_llama_ledger.py: ledger_batches.py)."""
    return ledger_runs


def ratios(record: RunRecord) -> list[tuple[int, str, float]]:
    return [(k.rank, f, k.predicted.ratios[f]) for k in record.ranks for f in LEDGER]


def test_the_ledger_is_the_prediction_within_1_percent_on_the_grid(runs):
    assert len(runs["two"]) == len(grid()) == 28
    for record in runs["two"]:
        assert record.status == "ok"
        assert all(k.predicted and k.predicted.model == "deepspeed" for k in record.ranks)
        off = [(rank, f, r) for rank, f, r in ratios(record) if r is None or abs(r - 1) > TOLERANCE]
        assert not off, (record.scenario["params"], off)


def test_the_record_holds_prediction_and_measurement_side_by_side(runs):
    for record in runs["two"]:
        for k in record.ranks:
            p = predict(Scenario.from_json(record.scenario).values, rank=k.rank)
            assert k.predicted.params_bytes == p.params_bytes
            assert k.predicted.ratios["params_bytes"] == k.params_bytes / p.params_bytes
            assert k.activation_peak_bytes > 0
            assert k.predicted.ratios["activation_peak_bytes"] == pytest.approx(
                k.activation_peak_bytes / p.activation_bytes)
            assert [ph.phase for ph in k.phases] == ["init", "warmup", "timed", "forward",
                                                     "backward", "step"]


def test_padding_on_three_ranks_is_predicted(runs):
    for record in runs["three"]:
        off = [x for x in ratios(record) if x[2] is None or abs(x[2] - 1) > TOLERANCE]
        assert not off, (record.scenario["params"], off)
    # tiny's d_model (128) is not a multiple of 3: ZeRO-3 pads its vectors' partitions.
    z3 = runs["three"][0]
    assert z3.ranks[0].params_bytes > 2 * 560_640 // 3


def test_padding_of_modules_with_odd_parameter_sizes(runs):
    for toy in runs["toys"]:
        values = {**toy["values"], "world_size": 3}
        for rank, measured in enumerate(toy["ledgers"]):
            p = predict(values, rank=rank, sizes=toy["sizes"])
            assert measured == p.ledger(), (values["zero_stage"], rank)
    # 26 elements on 3 ranks: ZeRO-1/2's flat group is 30 (a multiple of 6), not 26.
    assert toy_params(runs, 1) == 4 * 30


def toy_params(runs, stage: int) -> int:
    return next(t for t in runs["toys"] if t["values"]["zero_stage"] == stage)["ledgers"][0][
        "params_bytes"]


def test_strategies_that_keep_the_math_reach_the_baselines_loss(runs):
    # Same seed, same data, same steps: every ZeRO stage, with or without offload, ends at
    # the fp32 baseline's loss (stage 0) per optimizer. bf16 changes the math: its loss is
    # only recorded (the delta is the analysis's).
    fp32 = [r for r in runs["two"] if r.scenario["params"]["precision"] == "fp32"]
    for optimizer in ("adamw", "sgd"):
        losses = {(r.scenario["params"]["zero_stage"], r.scenario["params"]["offload_optimizer"]):
                  r.measurements.final_loss for r in fp32
                  if r.scenario["params"]["optimizer"] == optimizer}
        base = losses[0, "none"]
        assert len(losses) == 7
        assert all(abs(v - base) <= 1e-5 * base for v in losses.values()), (optimizer, losses)
