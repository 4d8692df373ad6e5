"""The analytical peak (suite/peak_model.py): its terms, without running anything."""

from __future__ import annotations

import math

from suite.ds_config import deepspeed_config
from suite.memory_model import activation_bytes as paper_activations
from suite.models import model_spec
from suite.peak_model import activation_bytes, block_activation_bytes, budget_need, predict_peak
from suite.peak_term import ALL, PeakTerm
from suite.plan_table import fit
from suite.prediction import runtime_bytes
from suite.scenario import Scenario
from suite.zero2_partition import first_reduction, overlapping_elements, reductions

BIG = {"model": "13b", "world_size": 8, "device": "cuda", "precision": "bf16",
       "micro_batch": 1, "seq_len": 1024}


def values(**kw) -> dict:
    return Scenario.from_values(sweep="t", values=kw).values


def test_block_term_is_linear_in_sequence_length_no_attention_scores():
    spec = model_spec("13b")
    one = block_activation_bytes(spec, micro_batch=1, seq_len=1024, width=2)
    two = block_activation_bytes(spec, micro_batch=1, seq_len=2048, width=2)
    assert two == 2 * one  # SDPA keeps no s x s scores: no a*s^2 term
    h, a = spec.d_model, spec.n_head
    assert one == 1024 * ((16 * h + 4) * 2 + 4 * a)


def test_llama_block_term_counts_gqa_swiglu_and_rotary():
    spec = model_spec("llama3.1-8b")  # 32 heads over 8 kv heads: K and V a quarter of Q
    h, a, kv, f, hd = spec.d_model, spec.n_head, 8 * 128, spec.ffn, spec.head_dim
    one = block_activation_bytes(spec, micro_batch=1, seq_len=1024, width=2)
    assert one == 1024 * (8 * h + 8 + 4 * a + 2 * (6 * h + 2 * kv + 4 * f)) + 4 * 1024 * hd * 2
    assert block_activation_bytes(spec, micro_batch=1, seq_len=2048, width=2) == 2 * one
    # a sequence-parallel rank: its slice, o_proj's input one more tensor, rotary's whole
    half = block_activation_bytes(spec, micro_batch=1, seq_len=512, width=2, sequence_parallel=2)
    assert half == (one - 4 * 1024 * hd * 2) // 2 + 512 * h * 2 + 4 * 1024 * hd * 2
    # a tensor-parallel rank: its heads and MLP share, the norms whole
    tp = block_activation_bytes(spec, micro_batch=1, seq_len=1024, width=2, tensor_parallel=2)
    norms = 1024 * 2 * (4 * h + 4 + 2 * 2 * h)
    assert tp - norms - 4 * 1024 * hd * 2 == (one - norms - 4 * 1024 * hd * 2) // 2


def test_13b_on_8_ranks_uses_the_ops_term_and_fits_80gib_at_zero_1_2_3():
    spec = model_spec("13b")
    ops = activation_bytes(spec, micro_batch=1, seq_len=1024, width=2)
    paper = paper_activations(spec, micro_batch=1, seq_len=1024, width=2)
    assert paper > 2 * ops  # Korthikanti's stored scores and dropout masks
    for stage in (1, 2, 3):
        p = predict_peak(values(**BIG, zero_stage=stage))
        terms = {t.name: t.nbytes for t in p.terms}
        assert terms["activations (ops)"] == ops
        assert p.peak_bytes < 80 * 2**30, (stage, p.peak_bytes / 2**30)


def test_offload_param_moves_the_partitions_to_the_host_side():
    base = dict(BIG, zero_stage=3, offload_optimizer="cpu")
    kept = predict_peak(values(**base))
    moved = predict_peak(values(**base, offload_param="cpu"))
    part = next(t.nbytes for t in kept.terms if t.name == "fp16_partitioned_groups_flat")
    assert kept.peak_bytes - moved.peak_bytes == part
    assert moved.host_peak_bytes - kept.host_peak_bytes == part
    nvme = predict_peak(values(**base, offload_param="nvme", nvme_path="/tmp/x"))
    # in RAM: the partitions too small to swap (under 1 MiB) and the swapper's buffers
    small, buffers, write_back = (next(t.nbytes for t in nvme.terms if t.name == name)
                                  for name in ("partitions under the smallest swap I/O",
                                               "parameter swap buffers (NVMe)",
                                               "parameter write-back buffer (NVMe)"))
    assert 0 < small < part // 100
    assert nvme.host_peak_bytes - kept.host_peak_bytes == small + buffers + write_back
    assert nvme.nvme_bytes >= part - small


def test_checkpoint_every_k_keeps_ceil_l_over_k_block_inputs():
    spec = model_spec("small")  # 4 blocks: every 3rd checkpoints blocks 0 and 3
    b, s, w = 2, 64, 4
    full = block_activation_bytes(spec, micro_batch=b, seq_len=s, width=w)
    none = activation_bytes(spec, micro_batch=b, seq_len=s, width=w)
    k3 = activation_bytes(spec, micro_batch=b, seq_len=s, width=w, checkpoint_every=3)
    kept = math.ceil(spec.n_layer / 3)
    assert none - k3 == kept * (full - b * s * spec.d_model * w)


def test_zero_1_2_bucket_exists_in_backward_zero_3_bucket_always():
    z2 = predict_peak(values(model="tiny", world_size=2, zero_stage=2))
    z3 = predict_peak(values(model="tiny", world_size=2, zero_stage=3))
    bucket = 4 * int(5e8)
    assert z2.phase_bytes("backward") - z2.phase_bytes("forward") > bucket * 0.99
    assert z3.phase_bytes("forward") > bucket
    assert z3.runtime_bytes > 0  # a named term of the budget, not of the tensor peak
    assert z3.budget_bytes == z3.peak_bytes + z3.runtime_bytes


def test_zero_2_makes_its_partition_where_the_bucket_fills_reach_it():
    """One mechanism at grad_accum 1 and 2 (suite/zero2_partition.py): `small`, 2 ranks, fp32.
    "auto" buckets (65,536 elements): ln_f's and out.b's gradients fill the first bucket,
    out.w's 262,144 elements overflow it, and its reduction makes the last rank's
    grads_in_partition (whole parameters: 8,422,400 bytes) while nearly every activation
    exists; out.w's gradient, larger than the bucket, waits outside it. Rank 0's partition is
    reached after backward has freed more activations than it weighs: no early term (with
    accumulation the micro-step's partition at backward's end). DeepSpeed's 5e8-element bucket
    holds every gradient: one reduction, at backward's end, no early term on any rank."""
    sizes = model_spec("small").parameter_sizes()
    fills = reductions(sizes, 65_536)
    assert fills[:2] == [[256, 256, 256], [262_144]] and sum(map(sum, fills)) == sum(sizes)
    part = sum(sizes) // 2
    assert first_reduction(sizes, 65_536, lo=part, hi=2 * part) == 0
    assert first_reduction(sizes, int(5e8), lo=part, hi=2 * part) == 0 == len(
        reductions(sizes, int(5e8))) - 1
    assert overlapping_elements(sizes, lo=part, hi=2 * part) * 4 == 8_422_400

    def terms(buckets: str, rank: int, grad_accum: int) -> dict[str, PeakTerm]:
        found = predict_peak(values(model="small", world_size=2, zero_stage=2,
                                    grad_accum=grad_accum, bucket_sizes=buckets),
                             rank=rank).terms
        return {t.name: t for t in found if t.category == "grads" and t.points != ALL
                and "averaged" not in t.name}

    early = "gradient partition made in backward, less the activations freed by then"
    waiting = "gradient larger than the reduce bucket, waiting"
    micro = "gradient partition of the micro-step (accumulation)"
    for accum in (1, 2):
        last = terms("auto", 1, accum)
        assert last[early].points == ("bwd_early",)
        assert 0 < 8_422_400 - last[early].nbytes < 4096  # ln_f's and out.b's share freed
        assert last[waiting].nbytes == 4 * 262_144 and last[waiting].points == ("bwd_early",)
        assert set(terms("auto", 0, accum)) == ({micro} if accum > 1 else set())
        assert terms("deepspeed", 0, accum) == {} == terms("deepspeed", 1, accum)
    assert terms("auto", 0, 2)[micro].nbytes == 7_623_680
    assert terms("auto", 0, 2)[micro].points == ("bwd_end",)
    assert terms("auto", 1, 2)[micro].points == ("bwd_end",)


def test_zero_2_peak_is_the_highest_rank_s_where_a_middle_rank_holds_the_most():
    """ZeRO-2's ranks differ (whole parameters overlapping each partition, made at different
    reductions): the scenario's peak is its highest rank's, here neither the first nor the
    last (350m, 8 ranks, bf16, accumulation: a rank holding more whole parameters)."""
    v = values(model="350m", world_size=8, zero_stage=2, precision="bf16", device="cuda",
               micro_batch=1, seq_len=1024, grad_accum=4)
    peaks = [predict_peak(v, rank=r).peak_bytes for r in range(8)]
    assert predict_peak(v).peak_bytes == max(peaks) > max(peaks[0], peaks[-1])


def test_auto_buckets_scale_with_the_model():
    scenario = Scenario.from_values(sweep="t", values={"model": "125m", "world_size": 2,
                                                       "zero_stage": 3, "bucket_sizes": "auto"})
    zero = deepspeed_config(scenario)["zero_optimization"]
    assert zero["reduce_bucket_size"] == 768 * 768
    assert zero["stage3_prefetch_bucket_size"] == int(0.9 * 768 * 768)
    assert zero["stage3_param_persistence_threshold"] == 7680


def test_a_distillation_is_planned_by_its_peak_as_its_record_is():
    """kind distill trains a student (jobs/record.py predicts its peak): `plan --predict`, the
    capacity search and the report's fits count its tensor peak and its engine's runtime, not
    the memory model's inference-like budget."""
    scenario = Scenario.from_values(sweep="t", values={
        "model": "tiny", "kind": "distill", "teacher": "small", "world_size": 2,
        "zero_stage": 2})
    peak = predict_peak(scenario.values)
    shown = fit(scenario, 2**31)
    assert shown["peak_bytes"] == peak.peak_bytes and shown["peak_phase"] == peak.peak_phase
    assert shown["budget_bytes"] == budget_need(scenario.values) == peak.budget_bytes
    train = {**scenario.values, "kind": "train"}
    n = model_spec("tiny").n_params
    assert runtime_bytes(scenario.values, n) == runtime_bytes(train, n)  # the same engine
