"""Achieved TFLOP/s and MFU in the record, against the datasheet peaks of suite/device_flops.py."""

from __future__ import annotations

import pytest

from jobs.rank_outcome import RankOutcome
from jobs.record import measurements
from results.schema import RankMetrics
from suite.device_flops import PEAKS, parse_override, peak_tflops
from suite.errors import UserInputError
from suite.models import flops_per_token, model_spec
from suite.scenario import Scenario


@pytest.mark.parametrize(("name", "precision", "tflops"), [
    ("NVIDIA H100 80GB HBM3", "bf16", 989.4),
    ("NVIDIA H100 PCIe", "bf16", 756.5),
    ("NVIDIA H100 NVL", "fp32", 60.0),
    ("NVIDIA H200", "bf16", 989.4),
    ("NVIDIA GH200 480GB", "bf16", 989.4),
    ("NVIDIA A100-SXM4-80GB", "bf16", 312.0),
    ("NVIDIA A100 80GB PCIe", "fp32", 19.5),
    ("Tesla V100-SXM2-32GB", "fp16", 125.0),
    ("Tesla V100S-PCIE-32GB", "fp16", 130.0),
    ("AMD Instinct MI250X", "bf16", 191.5),  # one GCD: half the package's 383
    ("AMD Instinct MI300X", "bf16", 1307.4),
])
def test_the_datasheet_peak_of_a_known_device(name, precision, tflops):
    value, source = peak_tflops(name, precision)
    assert value == tflops and source


@pytest.mark.parametrize(("name", "precision"), [
    (None, "bf16"),  # the CPU: no datasheet peak
    ("Some Future GPU", "bf16"),
    ("Tesla V100-SXM2-32GB", "bf16"),  # no bf16 on a V100
])
def test_an_unknown_peak_is_none_rather_than_wrong(name, precision):
    assert peak_tflops(name, precision) == (None, None)


def test_a_profile_overrides_the_table():
    assert peak_tflops("NVIDIA H100 80GB HBM3", "bf16", {"bf16": 900.0}) == (900.0, "profile")
    assert parse_override("bf16=989, fp32=67") == {"bf16": 989.0, "fp32": 67.0}
    with pytest.raises(UserInputError):
        parse_override("bf16=fast")


def test_every_row_has_bf16_or_fp16_and_fp32():
    for peak in PEAKS:
        assert "fp32" in peak.tflops and ({"bf16", "fp16"} & set(peak.tflops)), peak.name


def outcome(rank: int, times: list[float]) -> RankOutcome:
    metrics = RankMetrics(rank=rank, hostname="h", params_bytes=1, grads_bytes=1,
                          master_params_bytes=0, optimizer_state_bytes=0, peak_host_rss_bytes=1)
    return RankOutcome(metrics=metrics.to_json(), step_times_s=times, final_loss=2.0,
                       optimizer_impl="x", stable=True)


def test_tflops_and_mfu_from_6n_plus_attention_flops():
    scenario = Scenario.from_values(sweep="t", values={
        "model": "125m", "world_size": 2, "micro_batch": 4, "seq_len": 1024, "grad_accum": 1,
        "device": "cuda", "precision": "bf16"})
    m = measurements(scenario, [outcome(0, [0.5, 0.5]), outcome(1, [0.5, 0.5])],
                     device_name="NVIDIA H100 80GB HBM3", environ={})
    tokens_per_rank = 4 * 1024 / 0.5
    flops = flops_per_token(model_spec("125m"), 1024)
    assert m.flops_per_token == flops and m.step_time_cv == 0.0 and m.stable is True
    assert m.tflops_per_rank == pytest.approx(tokens_per_rank * flops / 1e12)
    assert m.peak_tflops == 989.4 and "datasheet" in m.peak_source
    assert m.mfu == pytest.approx(m.tflops_per_rank / 989.4)
    over = measurements(scenario, [outcome(0, [0.5]), outcome(1, [0.5])],
                        device_name="NVIDIA H100 80GB HBM3",
                        environ={"MEMSWEEP_PEAK_TFLOPS": "bf16=500"})
    assert over.peak_tflops == 500.0 and over.peak_source == "profile"


def test_no_mfu_on_the_cpu():
    scenario = Scenario.from_values(sweep="t", values={"world_size": 2})
    m = measurements(scenario, [outcome(0, [0.1]), outcome(1, [0.1])], device_name=None,
                     environ={})
    assert m.tflops_per_rank > 0 and m.mfu is None and m.peak_tflops is None
