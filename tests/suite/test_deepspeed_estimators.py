"""suite/memory_model.py against DeepSpeed's own estimators of ZeRO-2/3 model states.

`estimate_zero{2,3}_model_states_mem_needs_all_cold` print, for a hypothetical model, the
bytes per GPU and per node's CPU memory of each offload option; they take their figures
from `estimate_zero{2,3}_model_states_mem_needs`, whose exact values are compared here. For
every GPT size, mixed precision (bf16) AdamW on one node of N GPUs, the estimator equals
the model's model states (parameters, gradients, fp32 master, optimizer states; placed as
suite/peak_model.py places them, offload_param included) plus and minus the named terms
of docs/measurement.md ("DeepSpeed's own estimators"), to the byte (the estimators floor):

* padding: the model pads ZeRO-1/2's flat buffer to 2·N elements and each ZeRO-3
  parameter to N; the estimators take Ψ/N exactly;
* fp32 gradient partition (4Ψ/N): the estimators count it as held; DeepSpeed 0.19.8 makes
  it in step() and frees it after (without offload): a transient of the step, not at rest;
* largest layer (4 bytes × its elements, the token embedding for every GPT size): ZeRO-3's
  working set of a gathered layer, 16-bit parameters and gradients; nothing is gathered at
  rest (suite/peak_model.py's "ZeRO-3 gathered parameters" is the transient);
* persistent parameters: ZeRO-3 keeps parameters under stage3_param_persistence_threshold
  whole on every rank; the estimator does not (memsweep sets the threshold to 0 unless the
  bucket_sizes strategy says otherwise, so the term is usually 0);
* 16-bit gradient partition (2Ψ/N): DeepSpeed 0.19.8's ZeRO-3 keeps grad_partitions_flat_buffer
  for the whole run, where its optimizer is (device, or host with offload); the estimator
  counts only the fp32 gradients;
* CPU side: additional_buffer_factor (1.5) is a margin, not an allocation; max(4·N·Ψ, ...)
  and the no-offload figures are the fp32 model each of the node's N processes holds
  while it loads (zero.Init: only the largest layer), a start-up term, not a training state.

Buffers (reduce buckets, offload staging) are not model states: neither side counts them.
"""

import io
import math
from contextlib import redirect_stdout
from fractions import Fraction

import pytest

from suite.memory_model import predict, zero_config
from suite.models import MODELS
from suite.peak_model import predict_peak
from suite.scenario import Scenario

GPT = [name for name, spec in MODELS.items() if spec.family == "gpt" and spec.scale == "cluster"]
LEDGER = ("params", "grads", "master_params", "optimizer_state")
FACTOR = Fraction(3, 2)  # the estimators' default additional_buffer_factor


def estimators():
    # DeepSpeed loaded late, deliberately: importing it takes seconds.
    from deepspeed.runtime.zero import stage3, stage_1_and_2
    return stage_1_and_2, stage3


def states(model: str, n: int, stage: int, offload_optimizer: str = "none",
           offload_param: str = "none") -> dict:
    """Model states per rank by place, as the model places them; Ψ, padded partitions."""
    v = Scenario.from_values(sweep="t", values={
        "model": model, "world_size": n, "zero_stage": stage, "precision": "bf16",
        "device": "cuda", "optimizer": "adamw", "offload_optimizer": offload_optimizer,
        "offload_param": offload_param}).values
    rest = {t.name for t in predict(v).terms if t.category in LEDGER}
    placed = [t for t in predict_peak(v).terms if t.name in rest and t.category in LEDGER]
    sizes = MODELS[model].parameter_sizes()
    return {"device": sum(t.nbytes for t in placed if t.place == "device"),
            "host": sum(t.nbytes for t in placed if t.place == "host"),
            "by_name": {t.name: t.nbytes for t in placed},
            "psi": sum(sizes), "largest": max(sizes),
            "part12": math.ceil(sum(sizes) / (2 * n)) * 2,
            "part3": sum(math.ceil(s / n) for s in sizes),
            "persistent": sum(s for s in sizes
                              if s < zero_config(v)["stage3_param_persistence_threshold"])}


@pytest.fixture(scope="module")
def ds():
    return estimators()


@pytest.mark.parametrize("model", GPT)
@pytest.mark.parametrize("n", [2, 8])
def test_zero2_estimator_is_the_model_states_plus_named_terms(ds, model, n):
    zero2 = ds[0]
    for offload in (False, True):
        s = states(model, n, 2, "cpu" if offload else "none")
        psi, part = s["psi"], s["part12"]
        cpu, gpu = zero2.estimate_zero2_model_states_mem_needs(
            total_params=psi, num_gpus_per_node=n, cpu_offload=offload)
        if offload:  # on the GPU the 16-bit parameters; the rest on the host
            padding = 2 * (n * part - psi)
            assert gpu == s["device"] - padding
            host = n * s["host"] - 16 * (n * part - psi)  # the node's N ranks, unpadded
            assert cpu == int(FACTOR * max(4 * n * psi, host))
        else:
            padding = 2 * (n * part - psi) + 14 * (part - Fraction(psi, n))
            fp32_grads = 4 * Fraction(psi, n)
            assert gpu == math.floor(s["device"] - padding + fp32_grads)
            assert s["host"] == 0
            assert cpu == int(FACTOR * 4 * n * psi)  # loading only


@pytest.mark.parametrize("model", GPT)
@pytest.mark.parametrize("n", [2, 8])
def test_zero3_estimator_is_the_model_states_plus_named_terms(ds, model, n):
    zero3 = ds[1]
    for offload_optimizer, offload_param in (("none", "none"), ("cpu", "none"), ("cpu", "cpu")):
        s = states(model, n, 3, offload_optimizer, offload_param)
        psi, part, largest = s["psi"], s["part3"], s["largest"]
        unpadded = part - Fraction(psi, n)
        layer = 4 * largest  # the gathered largest layer's 16-bit parameters and gradients
        for zero_init in (True, False):
            cpu, gpu, layer_memory = zero3.estimate_zero3_model_states_mem_needs(
                total_params=psi, largest_layer_params=largest, num_gpus_per_node=n,
                cpu_offload=offload_optimizer == "cpu",
                cpu_offload_params=offload_param == "cpu", zero_init=zero_init)
            assert layer_memory == layer
            device = s["device"] - 2 * s["persistent"]  # kept whole: not in the estimator
            grads16 = s["by_name"]["grad_partitions_flat_buffer"]
            assert grads16 == 2 * part  # with the optimizer: on the device, or the host
            if offload_optimizer == "none":
                fp32_grads = 4 * Fraction(psi, n)
                assert gpu == math.floor(layer + device - grads16 - 14 * unpadded + fp32_grads)
                assert s["host"] == 0
                loading = 4 * largest if zero_init else 4 * psi
                assert cpu == int(FACTOR * loading * n)
                continue
            on_gpu = 2 if offload_param == "none" else 0  # the 16-bit parameter partitions
            assert gpu == math.floor(layer + device - on_gpu * unpadded)
            per_psi = 18 - on_gpu  # the estimator's host bytes per parameter
            host = n * (s["host"] - grads16) - per_psi * n * unpadded
            assert host == per_psi * psi
            floor = host if zero_init else max(4 * n * psi, host)
            assert cpu == int(FACTOR * floor)


def test_the_all_cold_tables_print_these_figures(ds, capsys):
    """The estimators users call print the values compared above (GB, 2 decimals)."""
    zero2, zero3 = ds
    s = states("13b", 8, 3)
    out = io.StringIO()
    with redirect_stdout(out):
        zero2.estimate_zero2_model_states_mem_needs_all_cold(total_params=s["psi"],
                                                             num_gpus_per_node=8)
        zero3.estimate_zero3_model_states_mem_needs_all_cold(
            total_params=s["psi"], largest_layer_params=s["largest"], num_gpus_per_node=8)
    printed = out.getvalue()
    _, gpu = zero2.estimate_zero2_model_states_mem_needs(total_params=s["psi"],
                                                         num_gpus_per_node=8, cpu_offload=False)
    assert f"{gpu / 2**30:6.2f}GB | offload_optimizer=none" in printed
    _, gpu, _ = zero3.estimate_zero3_model_states_mem_needs(
        total_params=s["psi"], largest_layer_params=s["largest"], num_gpus_per_node=8,
        cpu_offload=False, cpu_offload_params=False, zero_init=True)
    assert f"{gpu / 2**30:6.2f}GB | offload_param=none, offload_optimizer=none, zero_init=1" \
        in printed
