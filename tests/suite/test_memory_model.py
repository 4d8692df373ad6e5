import pytest

from suite.errors import UserInputError
from suite.memory_model import activation_bytes, parameter_sizes, predict
from suite.models import MODELS
from suite.scenario import Scenario
from suite.torch_tools import build_model
from suite.units import format_bytes, parse_bytes


def values(**kw):
    return Scenario.from_values(sweep="t", values={"model": "1.3b", "world_size": 8, **kw}).values


@pytest.mark.parametrize("stage, expected_per_psi", [
    (0, 16), (1, 4 + 12 / 8), (2, 2 + 14 / 8), (3, 16 / 8)])
def test_zero_paper_totals_for_mixed_precision_adam(stage, expected_per_psi):
    # ZeRO paper, Figure 1: 16Ψ, 4Ψ + KΨ/N, 2Ψ + (2+K)Ψ/N, (4+K)Ψ/N with K = 12.
    p = predict(values(zero_stage=stage, precision="bf16", device="cuda"), mode="paper")
    psi = MODELS["1.3b"].n_params
    assert p.model_state_bytes == pytest.approx(expected_per_psi * psi, rel=1e-6)


@pytest.mark.parametrize("stage, grad_accum, paper_minus_deepspeed", [
    (0, 1, 0), (3, 1, 0), (3, 4, 0),
    # DeepSpeed 0.19.8 reduces gradients into the rank's partition at the end of backward
    # and frees the whole ones: stage 1 without accumulation holds 2Ψ/N of gradients, not 2Ψ.
    (1, 1, 2 - 2 / 8),
    # With accumulation stage 1 keeps them whole, as the paper says.
    (1, 4, 0)])
def test_deepspeed_mode_is_the_paper_where_deepspeed_is(stage, grad_accum, paper_minus_deepspeed):
    v = values(zero_stage=stage, precision="bf16", device="cuda", grad_accum=grad_accum)
    paper, ds = predict(v, mode="paper"), predict(v)
    psi = MODELS["1.3b"].n_params
    assert (paper.model_state_bytes - ds.model_state_bytes) / psi == pytest.approx(
        paper_minus_deepspeed, abs=1e-4)  # ZeRO-3 pads each parameter to 8 elements: < 1e-4


def test_offload_moves_master_and_states_off_the_gpu_only():
    gpu = predict(values(zero_stage=2, offload_optimizer="cpu", precision="bf16", device="cuda"),
                  mode="paper")
    assert gpu.offloaded_bytes == gpu.master_params_bytes + gpu.optimizer_state_bytes
    assert gpu.device_bytes == gpu.total_bytes - gpu.offloaded_bytes
    cpu = predict(values(zero_stage=2, offload_optimizer="cpu", device="cpu"))
    assert cpu.offloaded_bytes == 0
    # One memory on the CPU; DeepSpeed's scratch (the 5e8-element reduce bucket) stays untouched.
    assert cpu.device_bytes == cpu.total_bytes - cpu.buffer_bytes and cpu.buffer_bytes > 0
    assert cpu.host_bytes > 0  # DeepSpeed's placement is named on the CPU too


def test_deepspeed_offload_also_keeps_fp32_gradients_and_staging_on_the_host():
    p = predict(values(zero_stage=2, offload_optimizer="cpu", precision="bf16", device="cuda"))
    host = {t.name for t in p.terms if t.place == "host"}
    assert {"single_partition_of_fp32_groups", "optimizer.state",
            "single_partition_of_fp32_groups[i].grad"} <= host
    psi, n = MODELS["1.3b"].n_params, 8
    assert p.grads_bytes == pytest.approx(4 * psi / n, rel=1e-4)  # only the fp32 host copy
    assert p.offloaded_bytes == sum(t.nbytes for t in p.terms if t.place == "host")


def test_sgd_has_no_state_and_fp32_stage0_no_master():
    for mode in ("paper", "deepspeed"):
        p = predict(values(zero_stage=0, optimizer="sgd"), mode=mode)
        assert p.optimizer_state_bytes == 0 and p.master_params_bytes == 0


def test_terms_add_up_to_the_categories():
    p = predict(values(zero_stage=1, offload_optimizer="cpu", precision="bf16", device="cuda"))
    assert sum(t.nbytes for t in p.terms if t.category != "buffers") == p.model_state_bytes
    assert sum(t.nbytes for t in p.terms if t.category == "buffers") == p.buffer_bytes
    assert p.device_bytes == p.total_bytes - p.offloaded_bytes
    assert all(t.name and t.place in ("device", "host") for t in p.terms)


@pytest.mark.parametrize("name", list(MODELS))
def test_parameter_sizes_are_the_modules_in_order(name):
    module = build_model(MODELS[name], device="meta")
    assert parameter_sizes(MODELS[name]) == [p.numel() for p in module.parameters()]
    assert sum(parameter_sizes(MODELS[name])) == MODELS[name].n_params


def small(**kw):
    return Scenario.from_values(sweep="t", values={"model": "tiny", "world_size": 3,
                                                   "precision": "bf16", **kw}).values


def test_zero_1_2_pad_the_flat_group_to_2n_elements():
    # 10 elements on 3 ranks: the flat buffer pads to 12 (a multiple of 2·3), partitions of 4.
    p = predict(small(zero_stage=1), rank=0, sizes=[7, 3])
    assert p.params_bytes == 2 * 12
    assert p.master_params_bytes == 4 * 4
    assert p.optimizer_state_bytes == 8 * 4 + 4  # + torch AdamW's fp32 step counter (CPU)
    assert p.grads_bytes == 2 * 4  # bf16 partition at the boundary


def test_zero_3_pads_each_parameter_to_n_elements():
    p = predict(small(zero_stage=3), rank=0, sizes=[7, 3])
    assert p.params_bytes == 2 * (3 + 1)  # ceil(7/3) + ceil(3/3)
    assert p.master_params_bytes == 4 * 4


def test_zero_2_with_accumulation_differs_by_rank_and_takes_the_fullest():
    v = small(zero_stage=2, grad_accum=2)
    # Partitions of 4 over [7, 3]: rank 0 [0,4) overlaps the 7, rank 1 [4,8) both, rank 2 the 3.
    grads = [predict(v, rank=r, sizes=[7, 3]).grads_bytes for r in range(3)]
    assert grads == [2 * 7, 2 * 10, 2 * 3]
    assert predict(v, sizes=[7, 3]).rank == 1


def test_korthikanti_activations_and_checkpointing():
    spec = MODELS["1.3b"]
    s, b, h, a, L = 2048, 1, spec.d_model, spec.n_head, spec.n_layer
    full = activation_bytes(spec, micro_batch=b, seq_len=s, width=2)
    logits = 2 * s * b * spec.vocab_size * 4
    assert full - logits == pytest.approx(L * s * b * h * (34 + 5 * a * s / h))
    ckpt = activation_bytes(spec, micro_batch=b, seq_len=s, width=2, checkpoint_every=1)
    assert ckpt - logits == pytest.approx(L * 2 * s * b * h + s * b * h * (34 + 5 * a * s / h))
    assert ckpt < full / 5


@pytest.mark.parametrize("text, n", [("80GiB", 80 * 2**30), ("40GB", 40 * 10**9),
                                     ("512 MiB", 512 * 2**20), ("1024", 1024), ("1.5k", 1500)])
def test_parse_bytes(text, n):
    assert parse_bytes(text) == n


def test_parse_bytes_refuses_with_fix():
    with pytest.raises(UserInputError, match="80GiB"):
        parse_bytes("lots")


def test_format_bytes():
    assert format_bytes(3 * 2**30) == "3 GiB" and format_bytes(None) == "-"
