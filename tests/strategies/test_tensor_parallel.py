"""Tensor parallelism (DeepSpeed AutoTP, llama preset) on real ranks: the same loss as the
unsharded model, each rank's parameter bytes as predicted, and the rules that refuse it."""

from __future__ import annotations

import pytest

from results.load import load_records
from suite.rules import violated_rule
from suite.scenario import Scenario

LEDGER = ("params_bytes", "grads_bytes", "master_params_bytes", "optimizer_state_bytes")


@pytest.mark.slow
def test_autotp_matches_the_unsharded_loss_and_each_rank_holds_its_share(parallel_runs):
    records, bad = load_records(parallel_runs["tp"])  # parallel_sweeps.TENSOR
    assert not bad and len(records) == 4 and all(r.status == "ok" for r in records)
    whole = next(r for r in records if r.scenario["params"]["world_size"] == 1)
    for r in records:
        # one replica over both ranks: the same global batch as the one-rank run
        assert abs(r.measurements.final_loss - whole.measurements.final_loss) <= 1e-4
        for k in r.ranks:
            for f in LEDGER:
                assert getattr(k, f) == getattr(k.predicted, f), (r.scenario["params"], f)
    sharded = [r for r in records if r.scenario["params"]["tensor_parallel"] == 2]
    assert all(k.params_bytes < whole.ranks[0].params_bytes for r in sharded for k in r.ranks)


def values(**changes) -> dict:
    return Scenario.from_values(sweep="s", values={"model": "llama-tiny", "world_size": 2,
                                                   "tensor_parallel": 2, **changes}).values


@pytest.mark.parametrize("changes, rule", [
    ({"zero_stage": 3}, "tensor-parallel-zero-at-most-2"),
    ({"model": "tiny"}, "tensor-parallel-needs-llama"),
    ({"world_size": 3}, "tensor-parallel-divides-world"),
    ({"tensor_parallel": 4, "world_size": 4}, "tensor-parallel-divides-widths"),
])
def test_rules_refuse_what_autotp_cannot_run(changes, rule):
    assert violated_rule(values(**changes)).name == rule
