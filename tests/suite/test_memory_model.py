import pytest

from suite.errors import UserInputError
from suite.memory_model import activation_bytes, predict
from suite.models import MODELS
from suite.scenario import Scenario
from suite.units import format_bytes, parse_bytes


def values(**kw):
    return Scenario.from_values(sweep="t", values={"model": "1.3b", "world_size": 8, **kw}).values


@pytest.mark.parametrize("stage, expected_per_psi", [
    (0, 16), (1, 4 + 12 / 8), (2, 2 + 14 / 8), (3, 16 / 8)])
def test_zero_paper_totals_for_mixed_precision_adam(stage, expected_per_psi):
    # ZeRO paper, Figure 1: 16Ψ, 4Ψ + KΨ/N, 2Ψ + (2+K)Ψ/N, (4+K)Ψ/N with K = 12.
    p = predict(values(zero_stage=stage, precision="bf16", device="cuda"))
    psi = MODELS["1.3b"].n_params
    assert p.model_state_bytes == pytest.approx(expected_per_psi * psi, rel=1e-6)


def test_offload_moves_master_and_states_off_the_gpu_only():
    gpu = predict(values(zero_stage=2, offload_optimizer="cpu", precision="bf16", device="cuda"))
    assert gpu.offloaded_bytes == gpu.master_params_bytes + gpu.optimizer_state_bytes
    assert gpu.device_bytes == gpu.total_bytes - gpu.offloaded_bytes
    cpu = predict(values(zero_stage=2, offload_optimizer="cpu", device="cpu"))
    assert cpu.offloaded_bytes == 0 and cpu.device_bytes == cpu.total_bytes


def test_sgd_has_no_state_and_fp32_stage0_no_master():
    p = predict(values(zero_stage=0, optimizer="sgd"))
    assert p.optimizer_state_bytes == 0 and p.master_params_bytes == 0


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
