"""ZeRO-3 with parameters on NVMe (suite/zero3_nvme_gather.py, the write-back buffer of
suite/memory_model.py): the figures jobs/peak_probe.py's per-storage breakdown measured on
`base`, 2 ranks, fp32, optimizer and parameters on NVMe (strategies.toml's scenario), at
DeepSpeed's buckets and at "auto"."""

from __future__ import annotations

import pytest

from suite.memory_model import predict, smallest_swap_bytes, zero_config
from suite.models import model_spec
from suite.peak_model import predict_peak
from suite.scenario import Scenario
from suite.zero3_nvme_gather import gathered_elements, reduce_scatter_elements

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
