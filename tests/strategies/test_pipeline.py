"""Pipeline parallelism (DeepSpeed PipelineModule) on real ranks: the same loss as the unsharded
model, each rank's parameter bytes as predicted from the reproduced partition, and the rules
that refuse it."""

from __future__ import annotations

import random

import pytest

from results.load import load_records
from suite.models import MODELS, model_spec
from suite.pipeline_partition import layers, partition, stage_parameter_sizes
from suite.rules import violated_rule
from suite.scenario import Scenario

LEDGER = ("params_bytes", "grads_bytes", "master_params_bytes", "optimizer_state_bytes")


@pytest.mark.slow
def test_two_stages_match_the_unsharded_loss_and_each_rank_holds_its_stage(parallel_runs):
    records, bad = load_records(parallel_runs["pp"])  # parallel_sweeps.PIPELINE
    assert not bad and len(records) == 5 and all(r.status == "ok" for r in records)
    whole = {r.scenario["params"]["model"]: r for r in records
             if r.scenario["params"]["world_size"] == 1}
    for r in records:
        params = r.scenario["params"]
        # one pipeline over both ranks, grad_accum micro-batches: the one-rank run's batch
        assert abs(r.measurements.final_loss
                   - whole[params["model"]].measurements.final_loss) <= 1e-4
        for k in r.ranks:
            for f in LEDGER:
                assert getattr(k, f) == getattr(k.predicted, f), (params, k.rank, f)
            # each stage's own activations, buffers and (last stage) kept logits
            assert abs(k.predicted.ratios["tensor_peak_bytes"] - 1) <= 0.05, (params, k.rank)
        if params["pipeline_stages"] == 2:
            spec = model_spec(params["model"])
            ranks = sorted(r.ranks, key=lambda k: k.rank)
            assert [k.pipeline_stage for k in ranks] == [0, 1]
            held = [k.params_bytes for k in ranks]
            assert held == [4 * sum(stage_parameter_sizes(spec, 2, s)) for s in (0, 1)]
            assert all(b < whole[params["model"]].ranks[0].params_bytes for b in held)


def test_the_partition_is_deepspeeds():
    from deepspeed.runtime.utils import partition_balanced  # heavy: only to compare with it

    rng = random.Random(0)
    cases = [([sum(x.sizes) for x in layers(spec)], parts) for spec in MODELS.values()
             for parts in (2, 3, 4, 8) if parts <= spec.n_layer]
    cases += [([rng.choice((0, 1, 5, 5, 7, 100)) for _ in range(rng.randint(1, 14))],
               rng.randint(1, 6)) for _ in range(300)]
    for weights, parts in cases:
        assert list(partition(tuple(weights), parts)) == partition_balanced(weights, parts), \
            (weights, parts)


def test_the_layers_are_the_modules_parameters_and_a_tied_head_is_the_embedding_again():
    for spec in MODELS.values():
        ls = layers(spec)
        flat = [s for x in ls for s in x.sizes]
        if spec.ties:
            assert ls[-1].tie == ls[0].tie == "embed" and ls[-1].sizes == ls[0].sizes
            flat = flat[:-1]
        assert flat == spec.parameter_sizes(), spec.name


def test_a_stage_built_alone_has_the_whole_modules_weights():
    import torch  # heavy: loaded late

    from suite import torch_tools
    from suite.pipeline_layers import Unit, pipe_layers

    for name in ("tiny", "llama-tiny"):
        spec = model_spec(name)
        torch.manual_seed(3)
        whole = list(torch_tools.build_model(spec).parameters())
        torch.manual_seed(3)
        base = torch.randint(0, 2**62, ()).item()  # what the module draws first
        # every layer but a tied head (the embedding again)
        stage = [Unit(p.make, p.seed) for p in pipe_layers(spec, base) if p.forward is None]
        got = [p for unit in stage for p in unit.parameters()]
        assert len(got) == len(whole)
        assert all(torch.equal(a, b) for a, b in zip(got, whole, strict=True)), name


def values(**changes) -> dict:
    return Scenario.from_values(sweep="s", values={"model": "tiny", "world_size": 2,
                                                   "pipeline_stages": 2, **changes}).values


@pytest.mark.parametrize("changes, rule", [
    ({"zero_stage": 2}, "pipeline-zero-at-most-1"),
    ({"zero_stage": 3}, "pipeline-zero-at-most-1"),
    ({"pipeline_stages": 3, "world_size": 3}, "pipeline-stages-at-most-layers"),
    ({"world_size": 3}, "pipeline-divides-world"),
    ({"checkpoint_every": 1}, "pipeline-alone"),
    ({"model": "llama-tiny", "tensor_parallel": 2, "world_size": 4}, "pipeline-alone"),
])
def test_rules_refuse_what_the_pipeline_cannot_run(changes, rule):
    assert violated_rule(values(**changes)).name == rule


def test_each_stage_is_predicted_and_the_largest_is_what_must_fit():
    from suite.memory_model import predict

    v = values(world_size=4, zero_stage=1)  # two pipelines of two stages
    spec = model_spec("tiny")
    stages = [sum(stage_parameter_sizes(spec, 2, s)) for s in (0, 1)]
    assert [predict(v, rank=r).params_bytes for r in range(4)] == [4 * stages[r % 2]
                                                                   for r in range(4)]
    assert predict(v).params_bytes == 4 * max(stages)
    assert predict(v, mode="paper").params_bytes == 4 * max(stages)  # the paper's terms stay


def test_each_stage_runs_its_own_blocks_with_its_micro_batches_in_flight():
    from suite.parallel import rank_layers

    v = values(model="small", world_size=4, pipeline_stages=4, grad_accum=8)
    shares = [rank_layers(v, model_spec("small"), r) for r in range(4)]
    assert sum(s.blocks for s in shares) == model_spec("small").n_layer
    assert [s.in_flight for s in shares] == [4, 3, 2, 1]
    assert [(s.embeds, s.head) for s in shares] == [(True, False), (False, False),
                                                     (False, False), (False, True)]


# Ledgers measured here (DeepSpeed 0.19.8, CPU, gloo) for what the slow test does not run: two
# pipelines of two stages (ZeRO-1 shards over the data-parallel pair; after the pipeline's one
# reduction a rank keeps its partition's gradients) and bf16 at ZeRO-0 (BF16_Optimizer).
MEASURED = [
    ({"model": "small", "world_size": 4, "zero_stage": 1, "grad_accum": 4},
     [(8677376, 4338688, 4338688, 8677380), (8417280, 4208640, 4208640, 8417284)] * 2),
    ({"model": "tiny", "precision": "bf16", "grad_accum": 4},
     [(724224, 1448448, 1448448, 2896900), (659200, 1318400, 1318400, 2636804)]),
]


@pytest.mark.parametrize("changes, ledgers", MEASURED)
def test_the_prediction_is_the_measured_ledger_of_every_rank(changes, ledgers):
    from suite.memory_model import predict

    v = values(micro_batch=2, seq_len=64, **changes)
    assert [tuple(getattr(predict(v, rank=r), f) for f in LEDGER)
            for r in range(len(ledgers))] == ledgers
