"""What ZeRO-3 holds gathered and its collectives' temporaries (suite/zero3_gather.py), and
with parameters on NVMe the write-back buffer (suite/memory_model.py): the figures
jobs/peak_probe.py's per-storage breakdown measured on `base`, 2 ranks, fp32, at DeepSpeed's
buckets and at "auto": optimizer and parameters on NVMe (strategies.toml's scenario),
parameters in RAM, parameters offloaded to the CPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from suite.memory_model import predict, smallest_swap_bytes, zero_config
from suite.models import model_spec
from suite.peak_model import predict_peak
from suite.scenario import Scenario
from suite.zero3_gather import (
    coalesced_prefetch_elements,
    gathered_elements,
    reduce_scatter_elements,
    released_gathered_elements,
)

MiB = 2**20
SPEC = model_spec("base")
PSI = SPEC.n_params


def values(buckets: str) -> dict:
    return Scenario.from_values(sweep="t", values={
        "model": "base", "world_size": 2, "zero_stage": 3, "offload_optimizer": "nvme",
        "offload_param": "nvme", "nvme_path": "/tmp/x", "bucket_sizes": buckets}).values


def term(terms, name: str) -> int:
    return next(t.nbytes for t in terms if t.name == name)


@pytest.mark.parametrize("buckets", ["deepspeed", "auto"])
def test_the_write_back_buffer_is_the_largest_sub_groups_whole_parameters(buckets):
    # measured: one 9.596 MiB storage from reserve_partitioned_swap_space, kept from the start
    assert term(predict(values(buckets), rank=0).terms,
                "parameter write-back buffer (NVMe)") == 10_061_824


def test_gathered_with_prefetch_off_is_the_embeddings():
    v = values("deepspeed")
    gathered = gathered_elements(SPEC, SPEC.parameter_sizes(), zero_config(v), ranks=2,
                                 width=4, smallest_swap=smallest_swap_bytes(v))
    assert gathered * 4 == 6.75 * MiB  # token and position tables, at backward's end


def test_gathered_with_prefetch_on_fills_the_swap_buffers():
    v = values("auto")
    gathered = gathered_elements(SPEC, SPEC.parameter_sizes(), zero_config(v), ranks=2,
                                 width=4, smallest_swap=smallest_swap_bytes(v))
    # the token table, 7 MLP matrices (8 swap buffers), 3 blocks' attention matrices
    assert gathered * 4 == 28.5 * MiB


def test_reduce_scatter_temporaries_one_bucket_or_the_largest_gradient():
    sizes = SPEC.parameter_sizes()
    assert reduce_scatter_elements(sizes, int(5e8), 2) == 2 * PSI  # every gradient at once
    # h² buckets: the token table's gradient alone, N divides it: gloo's copy only
    assert reduce_scatter_elements(sizes, 384 * 384, 2) == SPEC.vocab_size * SPEC.d_model


@pytest.mark.parametrize(("buckets", "measured_mib"), [("deepspeed", 2092.485),
                                                       ("auto", 167.643)])
def test_the_peak_as_measured(buckets, measured_mib):
    assert predict_peak(values(buckets), rank=0).peak_bytes / MiB == pytest.approx(
        measured_mib, rel=1e-3)


def whole(buckets: str = "deepspeed", **extra) -> dict:
    return Scenario.from_values(sweep="t", values={
        "model": "base", "world_size": 2, "zero_stage": 3, "bucket_sizes": buckets,
        **extra}).values


def test_the_coalesced_prefetch_is_every_parameter_after_the_first():
    # measured: one 41.37 MiB flat buffer at the forward's peak (the model less the token table)
    sizes = SPEC.parameter_sizes()
    assert coalesced_prefetch_elements(sizes, zero_config(whole())) == PSI - sizes[0]
    # "auto": a prefetch bucket of 0.9 h² takes a single matrix at a time: no flat buffer
    assert coalesced_prefetch_elements(sizes, zero_config(whole("auto"))) == 0


@pytest.mark.parametrize(("extra", "forward", "backward"), [
    ({}, 2151.32, 2127.26),
    ({"offload_optimizer": "cpu", "offload_param": "cpu"}, 2175.00, 2150.94)])
def test_whole_model_phases_as_measured(extra, forward, backward):
    """The forward is over by the head's activations and logits, not yet made when the
    prefetch buffer is live (8 MiB); backward's end is the reduce-scatter's."""
    p = predict_peak(whole(**extra), rank=0)
    assert p.phase_bytes("forward") / MiB == pytest.approx(forward + 8, abs=0.1)
    assert p.phase_bytes("backward") / MiB == pytest.approx(backward, rel=1e-3)


def small_zero3(**extra) -> dict:
    return Scenario.from_values(sweep="t", values={
        "model": "small", "world_size": 2, "zero_stage": 3, **extra}).values


def replay(v: dict) -> dict:
    spec = model_spec(v["model"])
    return released_gathered_elements(spec.parameter_sizes(), zero_config(v),
                                      n_layer=spec.n_layer, ties=spec.ties, ranks=2)


def test_stage3_live_block_sets_both_limits_to_one_blocks_parameters():
    zero = zero_config(small_zero3(stage3_live="block"))
    block = 12 * 256**2 + 13 * 256
    assert zero["stage3_max_live_parameters"] == zero["stage3_max_reuse_distance"] == block


def test_released_after_use_keeps_what_deepspeed_kept():
    # DeepSpeed's coordinator traced on `small`, 2 ranks, "auto" buckets, stage3_live "block":
    # the forward ends with the token table (the root holds it for the tied head) and the
    # last block's fc and out; backward ends with both embeddings (never released in it)
    at = replay(small_zero3(stage3_live="block", bucket_sizes="auto"))
    assert at == {"forward": 524288 + 2 * 262144, "bwd_start": 524288 + 2 * 262144,
                  "bwd_end": 524288 + 65536, "regather": 0}


def test_reuse_distance_zero_releases_the_tied_table_at_the_forwards_end():
    # capacity_ds.json's limits (reuse distance 0, prefetch 9e5): the root's release frees
    # the table, backward gathers it again while autograd keeps the forward's copy
    base = (Path(__file__).resolve().parents[2] / "suite/sweeps/capacity_ds.json").read_text()
    v = small_zero3(deepspeed_base=json.dumps(json.loads(base)), precision="fp32",
                    optimizer="adamw")
    assert replay(v)["regather"] == 524288
    # measured 69.132 MiB: the last block's fc prefetched with ln_f for backward has its copy
    # (ln_f's fetch split the all-gather) and the flat buffer waits for fc's backward
    assert round(predict_peak(v, rank=0).peak_bytes / MiB, 2) == 69.13


def test_zero3_with_scaled_limits_is_predicted_below_zero2():
    # measured 62.615 MiB on both ranks, ZeRO-2 65.583 and 71.376 (grad_accum 2, "auto")
    common = {"precision": "fp32", "optimizer": "adamw", "bucket_sizes": "auto",
              "grad_accum": 2}
    z3 = predict_peak(small_zero3(stage3_live="block", **common), rank=0).peak_bytes
    z2 = predict_peak(small_zero3(**common, zero_stage=2), rank=0).peak_bytes
    assert round(z3 / MiB, 3) == 62.613 and z3 < z2
