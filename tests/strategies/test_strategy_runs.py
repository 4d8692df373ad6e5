"""Every strategy for real: MPI ranks running DeepSpeed on the CPU.

One sweep for the whole module (each DeepSpeed start costs seconds here): one rank where a
strategy is not distributed, two where it is. Each test asserts the strategy's measurable
effect from the records. Model `tiny`: Psi = 560,640 parameters, 2 blocks of d = 128.
The offload runs go through `memsweep run`'s executor, a launch each: their host peak RSS is
compared and the NVMe run's folder must be gone after it. The others run in one MPI launch
per world size (tests/jobs/batch_runs.py: the worker's own run of each kind, ~4 s less a run).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
from parallel_sweeps import launch

from results.load import load_records
from results.schema import RunRecord
from results.store import write_record
from slurm import shm
from slurm.local import run_sweep
from suite.memory_model import predict
from suite.models import model_spec
from suite.sweep import parse_sweep

pytestmark = pytest.mark.slow
TINY = model_spec("tiny")
PSI = TINY.n_params
LINEAR = TINY.n_layer * 12 * TINY.d_model ** 2  # weights of the block linears
PAD = 1024  # torch AdamW's 4-byte step counter per tensor, DeepSpeed's padding
NVME = "/tmp/memsweep-test-nvme"

TABLES = {  # label -> one [[axes]] table (one scenario each)
    "adamw": {}, "sgd": {"optimizer": "sgd"}, "adamw8bit": {"optimizer": "adamw8bit"},
    "adafactor": {"optimizer": "adafactor"}, "checkpoint": {"checkpoint_every": 1},
    "structured": {"pruning": "structured-50"}, "unstructured": {"pruning": "unstructured-50"},
    "bf16": {"precision": "bf16"}, "micro_batch_8": {"micro_batch": 8},
    "overlap_on": {"world_size": 2, "zero_stage": 2, "overlap_comm": "on"},
    "overlap_off": {"world_size": 2, "zero_stage": 2, "overlap_comm": "off"},
    "infer_fp32": {"kind": "inference"},
    "infer_bf16": {"kind": "inference", "precision": "bf16"},
    "infer_int8": {"kind": "inference", "quantize": "int8"},
    "infer_int4": {"kind": "inference", "quantize": "int4"},
    "infer_pruned_int8": {"kind": "inference", "compression": "pruned-int8"},
    "distill": {"kind": "distill", "world_size": 2, "teacher": "small"},
    "offload_cpu": {"model": "base", "world_size": 2, "zero_stage": 3,
                    "offload_optimizer": "cpu"},
    "offload_nvme": {"model": "base", "world_size": 2, "zero_stage": 3,
                     "offload_optimizer": "nvme", "nvme_path": NVME},
}


# Runs of their own: a launch's host peak RSS holds what earlier runs of it allocated.
EXECUTOR = ("offload_cpu", "offload_nvme")
SETTINGS = {"warmup_steps": 1, "timed_steps": 2}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("strategy-runs")
    sweep = parse_sweep({"sweep": {"name": "strategy-runs", **SETTINGS, "timeout_s": 600},
                         "axes": list(TABLES.values())})
    assert len(sweep.scenarios) == len(TABLES)
    labelled = dict(zip(TABLES, sweep.scenarios, strict=True))
    own = parse_sweep({"sweep": {"name": "strategy-runs", **SETTINGS, "timeout_s": 600},
                       "axes": [TABLES[label] for label in EXECUTOR]})
    ids = {label: s.run_id for label, s in zip(EXECUTOR, own.scenarios, strict=True)}
    assert ids == {label: labelled[label].run_id for label in EXECUTOR}
    by_size: dict[int, list[str]] = {}
    for label, s in labelled.items():
        if label not in EXECUTOR:
            by_size.setdefault(int(s.values["world_size"]), []).append(label)
    specs, since = tmp_path_factory.mktemp("strategy-batches"), time.time()
    try:
        assert run_sweep(own, out=out) == 0, f"a run failed: see {out}/logs"
        for size, labels in sorted(by_size.items()):
            made = launch(specs, size, [{"values": dict(labelled[k].params),
                                         "settings": SETTINGS} for k in labels])
            for label, made_record in zip(labels, made, strict=True):
                record = RunRecord.from_json(made_record)
                write_record(out, record)
                ids[label] = record.run_id
    finally:  # batch_runs' aborted ranks are no launcher's to clean up after (slurm/shm.py)
        shm.remove_leftovers(since - shm.CLOCK_SLACK_S)
    records, bad = load_records(out)
    assert not bad
    by_id = {r.run_id: r for r in records}
    return {label: by_id[ids[label]] for label in TABLES}


def rank0(runs, label: str, field: str):
    return getattr(runs[label].ranks[0], field)


def every_rank(runs, label: str, field: str) -> list:
    return [getattr(k, field) for k in runs[label].ranks]


def test_every_run_is_ok(runs):
    assert {label: r.status for label, r in runs.items()} == dict.fromkeys(TABLES, "ok")


def test_optimizer_state_bytes(runs):
    assert rank0(runs, "sgd", "optimizer_state_bytes") == 0
    assert abs(rank0(runs, "adamw", "optimizer_state_bytes") - 8 * PSI) <= PAD
    assert 1.9 * PSI < rank0(runs, "adamw8bit", "optimizer_state_bytes") < 2.2 * PSI
    assert rank0(runs, "adafactor", "optimizer_state_bytes") < 0.1 * 4 * PSI  # factored
    assert runs["adamw8bit"].fingerprint["optimizer_impl"].endswith("AdamW8bit")


def test_checkpointing_lowers_the_activations(runs):
    full, ckpt = rank0(runs, "adamw", "activation_bytes"), rank0(runs, "checkpoint",
                                                                   "activation_bytes")
    assert ckpt < 0.5 * full, (ckpt, full)


def test_micro_batch_scales_the_activations(runs):
    ratio = rank0(runs, "micro_batch_8", "activation_bytes") / rank0(runs, "adamw",
                                                                     "activation_bytes")
    assert 1.9 < ratio < 2.1


def test_structured_pruning_shrinks_and_unstructured_does_not(runs):
    dense = rank0(runs, "adamw", "params_bytes")
    assert dense == 4 * PSI
    structured = rank0(runs, "structured", "params_bytes")
    assert structured == predict(runs["structured"].scenario["params"]).params_bytes
    block = TINY.n_layer * (12 * TINY.d_model ** 2 + 9 * TINY.d_model) * 4
    assert abs((dense - structured) / (block / 2) - 1) < 0.01  # half of the pruned layers
    assert rank0(runs, "structured", "grads_bytes") == structured
    assert rank0(runs, "unstructured", "params_bytes") == dense  # zeros are stored
    assert rank0(runs, "unstructured", "buffer_bytes") == 4 * LINEAR  # + a dense mask each
    assert rank0(runs, "adamw", "buffer_bytes") == 0


def test_bf16_holds_16_bit_parameters_and_an_fp32_master(runs):
    assert rank0(runs, "bf16", "params_bytes") == 2 * PSI
    assert abs(rank0(runs, "bf16", "master_params_bytes") - 4 * PSI) <= PAD


def test_data_parallel_zero_2_halves_the_states_and_overlap_keeps_the_numerics(runs):
    for label in ("overlap_on", "overlap_off"):
        assert all(abs(o - 4 * PSI) <= PAD for o in every_rank(runs, label,
                                                               "optimizer_state_bytes"))
    on, off = (runs[k].measurements.final_loss for k in ("overlap_on", "overlap_off"))
    assert on == pytest.approx(off, rel=1e-5)


def test_int8_weights_take_a_quarter_and_int4_an_eighth(runs):
    fp32 = rank0(runs, "infer_fp32", "params_bytes")
    assert fp32 == 4 * PSI and rank0(runs, "infer_fp32", "grads_bytes") == 0
    assert rank0(runs, "infer_bf16", "params_bytes") == 2 * PSI
    saved8 = fp32 - rank0(runs, "infer_int8", "params_bytes")
    assert abs(saved8 / (3 * LINEAR) - 1) < 0.02  # 4 bytes -> 1 (+ a scale per channel)
    saved4 = fp32 - rank0(runs, "infer_int4", "params_bytes")
    # 4 bytes -> 0.5, plus a scale and a zero (fp32 here) per group of 32 weights: 0.25
    assert abs(saved4 / (3.25 * LINEAR) - 1) < 0.02
    loss = {k: runs[k].measurements.final_loss for k in ("infer_fp32", "infer_int8")}
    assert loss["infer_int8"] == pytest.approx(loss["infer_fp32"], rel=0.01)
    assert rank0(runs, "infer_pruned_int8", "params_bytes") < rank0(runs, "infer_int8",
                                                                    "params_bytes")


def test_the_distillation_record_holds_both_models(runs):
    small = model_spec("small")
    teacher = small.n_params - (small.vocab_size - TINY.vocab_size) * small.d_model
    assert every_rank(runs, "distill", "teacher_params_bytes") == [2 * teacher] * 2  # bf16
    assert rank0(runs, "distill", "params_bytes") == 4 * PSI  # the student, whole (ZeRO 0)
    assert rank0(runs, "adamw", "teacher_params_bytes") is None
    # KL divergence of a student from a teacher it does not copy: finite and above zero.
    assert 0 < runs["distill"].measurements.final_loss < math.inf


def test_nvme_offload_swaps_the_states_into_the_named_folder(runs):
    cpu, nvme = runs["offload_cpu"], runs["offload_nvme"]
    states = [k.master_params_bytes + k.optimizer_state_bytes for k in cpu.ranks]
    assert all(s > 0 for s in states)
    assert every_rank(runs, "offload_nvme", "optimizer_state_bytes") == [0, 0]  # on disk
    assert every_rank(runs, "offload_nvme", "master_params_bytes") == [0, 0]
    assert all(n >= 0.9 * s for n, s in zip(every_rank(runs, "offload_nvme", "nvme_bytes"),
                                            states, strict=True))
    assert not (Path(NVME) / nvme.run_id).exists()  # the run's folder is removed after it
    # Host memory: the states left it (minus DeepSpeed's swap buffers).
    saved = [c.peak_host_rss_bytes - n.peak_host_rss_bytes
             for c, n in zip(cpu.ranks, nvme.ranks, strict=True)]
    assert all(s > 0.3 * st for s, st in zip(saved, states, strict=True)), (saved, states)


@pytest.mark.gpu
def test_allocator_settings_and_memory_snapshot_on_gpu(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    monkeypatch.setenv("MEMSWEEP_MEMORY_SNAPSHOT", str(tmp_path / "snapshots"))
    sweep = parse_sweep({"sweep": {"name": "allocator", "warmup_steps": 1, "timed_steps": 2},
                         "axes": {"device": "cuda", "cuda_alloc_conf": "expandable_segments:True",
                                  "precision": "bf16"}})
    assert run_sweep(sweep, out=tmp_path) == 0
    (record,), _ = load_records(tmp_path)
    assert record.status == "ok" and Path(record.ranks[0].memory_snapshot).is_file()
