"""Sequence parallelism (DeepSpeed Ulysses, the mpu route) on real ranks: the same loss as the
unsharded model, each rank's parameter bytes as predicted, the ds config never carrying
DeepSpeed's silently wrong `sequence_parallel_size`, and the rules that refuse it."""

from __future__ import annotations

import pytest

from results.load import load_records
from suite.ds_config import deepspeed_config
from suite.parallel import data_parallel_size, data_rank, sequence_slice, shard_ranks
from suite.rules import violated_rule
from suite.scenario import Scenario

LEDGER = ("params_bytes", "grads_bytes", "master_params_bytes", "optimizer_state_bytes")


@pytest.mark.slow
def test_ulysses_matches_the_unsharded_loss_and_each_rank_holds_what_zero_gives_it(parallel_runs):
    records, bad = load_records(parallel_runs["sp"])  # parallel_sweeps.SEQUENCE
    assert not bad and len(records) == 4 and all(r.status == "ok" for r in records)
    for model in ("llama-tiny", "tiny"):
        runs = [r for r in records if r.scenario["params"]["model"] == model]
        whole = next(r for r in runs if r.scenario["params"]["world_size"] == 1)
        split = next(r for r in runs if r.scenario["params"]["world_size"] == 2)
        # both ranks feed halves of the same samples: the one-rank run's global batch; the
        # record's loss is the mean of the two halves' losses, the whole sequence's
        assert abs(split.measurements.final_loss - whole.measurements.final_loss) <= 1e-4
        for k in split.ranks:
            for f in LEDGER:
                assert getattr(k, f) == getattr(k.predicted, f), (model, f)
        # ZeRO-1 shards the optimizer over both (they hold the same parameters)
        assert all(k.optimizer_state_bytes < whole.ranks[0].optimizer_state_bytes
                   for k in split.ranks)


def values(**changes) -> dict:
    return Scenario.from_values(sweep="s", values={"model": "llama-tiny", "world_size": 2,
                                                   "sequence_parallel": 2, "seq_len": 16,
                                                   **changes}).values


def test_the_ds_config_never_carries_deepspeeds_sequence_parallel_size():
    for changes in ({}, {"world_size": 4}, {"zero_stage": 3}):
        scenario = Scenario.from_values(sweep="s", values=values(**changes))
        config = deepspeed_config(scenario)
        assert "sequence_parallel_size" not in str(config) and "train_batch_size" not in config


def test_sequence_ranks_share_samples_and_split_the_sequence():
    v = values(world_size=4)
    assert data_parallel_size(v) == 2 and shard_ranks(v) == 4
    assert [data_rank(v, r) for r in range(4)] == [0, 0, 1, 1]
    assert [sequence_slice(v, r) for r in range(4)] == [(0, 8), (8, 16)] * 2


@pytest.mark.parametrize("changes, rule", [
    ({"world_size": 3}, "sequence-parallel-divides-world"),
    ({"tensor_parallel": 2, "world_size": 4}, "sequence-parallel-alone"),
    ({"sequence_parallel": 4, "world_size": 4}, "sequence-parallel-divides-heads"),
    ({"seq_len": 15}, "sequence-parallel-divides-seq-len"),
    ({"kind": "inference"}, "sequence-parallel-needs-kind-train"),
])
def test_rules_refuse_what_ulysses_cannot_run(changes, rule):
    assert violated_rule(values(**changes)).name == rule
