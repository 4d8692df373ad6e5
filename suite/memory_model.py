"""The analytical memory model: predicted bytes per rank for a scenario, before anything runs.

Two modes, each a list of named terms per ledger category (jobs/ledger.py: parameters,
gradients, fp32 master weights, optimizer states) so prediction and measurement line up:

* "paper": the ZeRO paper (Rajbhandari et al. 2020). With Ψ parameters, N ranks and
  K bytes of optimizer state per parameter, mixed-precision training holds 2Ψ + 2Ψ + KΨ
  at stage 0 (K = 12 for Adam: fp32 master, m, v), 4Ψ + KΨ/N at stage 1, 2Ψ + (2+K)Ψ/N
  at stage 2, (4+K)Ψ/N at stage 3. The fp32 master is its own category here, not part
  of "optimizer states".
* "deepspeed" (the default): what DeepSpeed 0.19.8 really keeps, term by term, with
  its padding, checked against the ledger of real runs (tests/jobs/test_prediction.py).
  It differs from the paper where DeepSpeed does (see `_zero_terms`), and it names the
  scratch buffers the ledger does not count (`buffers`: reduce buckets, offload staging).

Activations follow Korthikanti et al. 2022: s·b·h·(34 + 5·a·s/h) bytes per layer at
16-bit, 2·s·b·h per layer kept under full recompute.
"""

from __future__ import annotations

import math
from dataclasses import replace

from suite.ds_config import deepspeed_config
from suite.models import ModelSpec, model_spec
from suite.parallel import (
    rank_parameter_sizes,
    rank_seq_len,
    shard_rank,
    shard_ranks,
    shares_differ,
)
from suite.prediction import CATEGORIES, Prediction, Term
from suite.scenario import Scenario
from suite.strategies import effective, memory_terms
from suite.zero2_partition import overlapping_elements
from suite.zero3_sub_groups import DEEPSPEED_DEFAULT as SUB_GROUP_DEFAULT
from suite.zero3_sub_groups import partitions, sub_groups

MODES = ("deepspeed", "paper")
_DTYPE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
# fp32 optimizer states per parameter (K without the master copy): Adam's m and v; plain SGD
# (momentum 0) none. Other optimizers: their strategy's term (suite/strategies/optimizer.py).
_STATE_BYTES = {"adamw": 8, "sgd": 0}
# DeepSpeed 0.19.8's defaults for the config keys the layout depends on (runtime/zero/config.py).
ZERO_DEFAULTS = {"reduce_bucket_size": int(5e8), "contiguous_gradients": True,
                 "stage3_param_persistence_threshold": int(1e5),
                 "stage3_prefetch_bucket_size": int(5e7),
                 "stage3_max_live_parameters": int(1e9),
                 "stage3_max_reuse_distance": int(1e9),
                 "sub_group_size": SUB_GROUP_DEFAULT}
_ALIGN = 2  # ZeRO-1/2's nccl_start_alignment_factor: flat groups pad to 2·N elements
_SWAP_BUFFERS = 4  # offload_optimizer.buffer_count's default: the NVMe optimizer swapper's
_AIO_ELEMENTS = 256  # its buffers align to 1024 bytes of fp32 (AIO_ALIGNED_BYTES)
_MIN_AIO_BYTES = 2**20  # swap_tensor/utils.py MIN_AIO_BYTES: smaller tensors are not swapped


def aligned_partition(psi: int, n: int) -> int:
    """Elements of a rank's ZeRO-1/2 partition: the flat group padded to a multiple of
    _ALIGN·N elements, split N ways."""
    return math.ceil(psi / (_ALIGN * n)) * _ALIGN


def predict(values: dict, *, mode: str = "deepspeed", rank: int | None = None,
            sizes: list[int] | None = None) -> Prediction:
    """Predicted bytes for a scenario's axis values (`Scenario.values`) on `rank`.

    `rank` None: the rank with the most device bytes (ranks differ where a ZeRO-2 partition
    boundary cuts a parameter, and where model parallelism gives them different parameters:
    pipeline stages); that is what must fit. `rank` is global; ZeRO partitions by the
    rank's place among the ranks it shards over (suite/parallel.py). `sizes`: the parameters'
    element counts in order, for a module other than the catalogue's (default: `values`'
    model, `parameter_sizes`).
    """
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not one of {MODES}")
    spec = model_spec(values["model"])
    if rank is None:
        differ = _rank_dependent(values) or (sizes is None and shares_differ(values, spec))
        candidates = range(int(values["world_size"])) if differ else (0,)
        return max((predict(values, mode=mode, rank=r, sizes=sizes) for r in candidates),
                   key=lambda p: (p.device_bytes, -p.rank))
    sizes = rank_parameter_sizes(values, spec, rank) if sizes is None else list(sizes)
    terms = _paper_terms(values, sum(sizes)) if mode == "paper" else \
        _zero_terms(values, sizes, shard_rank(values, rank))
    prediction = _prediction(values, spec, terms, mode=mode, rank=rank)
    if values.get("kind") == "inference":
        prediction = _inference(effective(values), prediction)
    return memory_terms(values, prediction)  # each strategy's own term (suite/strategies/)


def _inference(values: dict, prediction: Prediction) -> Prediction:
    """No gradients, no optimizer, nothing kept for backward: about one block's activations."""
    spec = model_spec(values["model"])
    one = activation_bytes(replace(spec, n_layer=1), micro_batch=values["micro_batch"],
                           seq_len=values["seq_len"],
                           width=4 if values["precision"] == "fp32" else 2)
    return replace(prediction, grads_bytes=0, master_params_bytes=0, optimizer_state_bytes=0,
                   buffer_bytes=0, activation_bytes=one,
                   terms=tuple(t for t in prediction.terms if t.category == "params"))


def _prediction(values: dict, spec: ModelSpec, terms: list[Term], *, mode: str,
                rank: int) -> Prediction:
    total = {c: sum(t.nbytes for t in terms if t.category == c) for c in CATEGORIES}
    host = sum(t.nbytes for t in terms if t.place == "host")
    activations = activation_bytes(spec, micro_batch=values["micro_batch"],
                                   seq_len=rank_seq_len(values),
                                   width=_DTYPE_BYTES[values["precision"]],
                                   checkpoint_every=values.get("checkpoint_every", 0))
    return Prediction(
        params_bytes=total["params"], grads_bytes=total["grads"],
        master_params_bytes=total["master_params"],
        optimizer_state_bytes=total["optimizer_state"], buffer_bytes=total["buffers"],
        activation_bytes=activations, device=str(values["device"]),
        # On the CPU "offloading" moves bytes between categories, not out of the same memory.
        offloaded_bytes=host if values["device"] != "cpu" else 0, host_bytes=host,
        mode=mode, rank=rank, terms=tuple(terms))


def _paper_terms(values: dict, psi: int) -> list[Term]:
    n, stage = shard_ranks(values), values["zero_stage"]
    width = _DTYPE_BYTES[values["precision"]]
    # An fp32 copy of the partition at stage >= 1 (DeepSpeed's ZeRO optimizers keep one even
    # in fp32 training); at stage 0 only mixed precision needs one.
    master = 4 if (stage > 0 or width != 4) else 0

    def shard(nbytes: float, from_stage: int) -> int:
        return int(nbytes / n) if stage >= from_stage else int(nbytes)

    place = "host" if values["offload_optimizer"] != "none" else "device"
    return [Term(category="params", name="params", nbytes=shard(width * psi, 3)),
            Term(category="grads", name="grads", nbytes=shard(width * psi, 2)),
            Term(category="master_params", name="fp32 master", nbytes=shard(master * psi, 1),
                 place=place),
            Term(category="optimizer_state", name="K", place=place,
                 nbytes=shard(_STATE_BYTES.get(values["optimizer"], 0) * psi, 1))]


def parameter_sizes(spec: ModelSpec) -> list[int]:
    """Element counts of the model's parameters in `module.parameters()` order: DeepSpeed
    flattens them in this order, so it decides where partitions cut."""
    return spec.parameter_sizes()


def aio_config(values: dict) -> dict:
    """The scenario's aio section (NVMe offload's async I/O), {} without one."""
    return deepspeed_config(Scenario.from_values(sweep="predict", values=values)).get("aio", {})


def zero_config(values: dict) -> dict:
    """The scenario's zero_optimization section over DeepSpeed's defaults for it."""
    scenario = Scenario.from_values(sweep="predict", values=values)
    zero = deepspeed_config(scenario).get("zero_optimization", {})
    overlap = zero.get("overlap_comm", values["zero_stage"] == 3)  # DeepSpeed: on for stage 3
    return {**ZERO_DEFAULTS, "overlap_comm": overlap, **zero}


def _zero_terms(values: dict, sizes: list[int], rank: int) -> list[Term]:
    """DeepSpeed 0.19.8's per-rank model states, as its optimizers allocate them.

    Gradients are the most a rank holds at the ledger's snapshot points (after each
    micro-step's backward, after the step): between micro-steps where accumulation keeps
    them, at the boundary otherwise. One parameter group (memsweep passes
    model.parameters()); round_robin_gradients off (DeepSpeed's default).
    """
    n, stage = shard_ranks(values), values["zero_stage"]
    w, accum = _DTYPE_BYTES[values["precision"]], int(values["grad_accum"])
    offload = values["offload_optimizer"] != "none"
    k = _STATE_BYTES.get(values["optimizer"], 0)
    opt = "host" if offload else "device"  # where the optimizer's partition lives
    psi = sum(sizes)
    zero = zero_config(values)
    # torch's AdamW (DeepSpeed's torch_adam, on the CPU without offload) keeps a 4-byte fp32
    # `step` tensor per parameter tensor it steps; DeepSpeedCPUAdam a Python int, FusedAdam none.
    torch_adam = values["optimizer"] == "adamw" and values["device"] == "cpu" and not offload
    if stage == 0:
        terms = [Term(category="params", name="module parameters", nbytes=w * psi),
                 Term(category="grads", name="param.grad", nbytes=w * psi)]
        if w != 4:
            terms.append(Term(category="master_params", name="fp32_groups", nbytes=4 * psi,
                              note="FP16_UnfusedOptimizer: an fp32 copy per parameter"))
        terms.append(_states(k * psi, len(sizes) if torch_adam and k else 0, "device"))
        return terms
    if stage in (1, 2):
        part = aligned_partition(psi, n)
        aligned = part * n
        terms = [Term(category="params", name="bit16_groups_flat", nbytes=w * aligned,
                      note=f"flat buffer padded to a multiple of {_ALIGN}·N elements"),
                 Term(category="master_params", name="single_partition_of_fp32_groups",
                      nbytes=4 * part, place=opt),
                 _states(k * part, 1 if torch_adam and k else 0, opt)]
        terms += _zero12_grads(sizes, stage=stage, n=n, rank=rank, w=w, part=part,
                               accum=accum, offload=offload)
        terms += _zero12_buffers(sizes, zero, w=w, part=part, offload=offload)
        return terms
    part = sum(partitions(sizes, n))
    persistent = sum(s for s in sizes if s < zero["stage3_param_persistence_threshold"])
    terms = [Term(category="params", name="fp16_partitioned_groups_flat", nbytes=w * part,
                  note="each parameter partitioned on its own, padded to a multiple of N")]
    if values.get("offload_param", "none") == "nvme":
        terms = _nvme_param_terms(values, sizes, n, w, zero)
    if persistent:
        terms.append(Term(category="params", name="persistent parameters", nbytes=w * persistent,
                          note="below stage3_param_persistence_threshold: kept whole"))
    terms += [Term(category="master_params", name="fp32_partitioned_groups_flat",
                   nbytes=4 * part, place=opt),
              _states(k * part, len(sub_groups(sizes, n, int(zero["sub_group_size"])))
                      if torch_adam and k else 0, opt),  # one counter per sub-group stepped
              Term(category="grads", name="grad_partitions_flat_buffer", nbytes=w * part,
                   place=opt, note="DeepSpeed 0.19.8 keeps this rank's gradient partitions "
                                   "in the parameters' dtype, for the whole run")]
    if values["offload_optimizer"] == "cpu":
        terms.append(Term(category="grads", name="fp32_partitioned_groups_flat[i].grad",
                          nbytes=4 * part, place="host",
                          note="DeepSpeed 0.19.8 keeps a second, fp32 copy of the gradient "
                               "partition on the host for the CPU optimizer"))
    elif values["offload_optimizer"] == "nvme":
        terms.append(_nvme_swap_buffers(sizes, n, int(zero["sub_group_size"])))
    if zero["contiguous_gradients"]:
        terms.append(Term(category="buffers", name="ipg_buckets (reduce bucket)",
                          nbytes=w * int(zero["reduce_bucket_size"])))
    return terms


def _nvme_param_terms(values: dict, sizes: list[int], n: int, w: int, zero: dict) -> list[Term]:
    """ZeRO-3 with parameters on NVMe (swap_tensor/partitioned_param_swapper.py): a partition
    under the swapper's smallest I/O (max(1 MiB, aio block_size) bytes) is never swapped and
    stays in RAM; the others live on NVMe and are read into the swapper's pinned buffers
    (offload_param buffer_count x buffer_size elements, aligned to 256), allocated at the
    start; and the buffer the optimizer's step writes the updated partitions through
    (`_nvme_reuse_buffer`). Measured (base, 2 ranks): 7.18 MiB of partitions, 24 MiB of swap
    buffers and 9.60 MiB of that buffer at rest, each exactly this."""
    aio = aio_config(values)
    smallest = smallest_swap_bytes(values)
    parts = partitions(sizes, n)
    kept = sum(p for p in parts if p * w < smallest)
    swap = zero["offload_param"]
    align = _aio_alignment(aio, w)
    elements = math.ceil(int(swap["buffer_size"]) / align) * align
    return [Term(category="params", name="fp16_partitioned_groups_flat",
                 nbytes=w * (sum(parts) - kept), note="the partitions swapped to NVMe"),
            Term(category="params", name="partitions under the smallest swap I/O",
                 nbytes=w * kept, place="host", note="too small to swap: kept in RAM"),
            Term(category="buffers", name="parameter swap buffers (NVMe)", place="host",
                 nbytes=int(swap["buffer_count"]) * elements * w,
                 note="pinned buffers the swapped partitions are read into"),
            _nvme_reuse_buffer(sizes, n, w, int(zero["sub_group_size"]), align)]


def smallest_swap_bytes(values: dict) -> int:
    """The parameter swapper's smallest I/O: a partition under it stays in RAM."""
    return max(_MIN_AIO_BYTES, int(aio_config(values).get("block_size", _MIN_AIO_BYTES)))


def _aio_alignment(aio: dict, w: int) -> int:
    """Elements a swap buffer's size is rounded up to: AIO_ALIGNED_BYTES (1024) times the aio
    section's intra_op_parallelism (1), over the element size (swap_tensor/constants.py)."""
    return 1024 * int(aio.get("intra_op_parallelism", 1)) // w


def _nvme_reuse_buffer(sizes: list[int], n: int, w: int, sub_group_size: int,
                       align: int) -> Term:
    """With parameters on NVMe no sub-group keeps a flat 16-bit partition in RAM, so
    stage3.py `_create_fp16_partitions_with_defragmentation` has the swapper reserve one
    pinned buffer to write the stepped partitions back through (partitioned_param_swapper.py
    `reserve_partitioned_swap_space`): for the sub-group with the most partition elements
    (the first such), each parameter's element count aligned for async I/O -- its whole
    numel (ds_numel), not its partition, as DeepSpeed 0.19.8 sizes it -- in the parameters'
    dtype, allocated at the start and kept."""
    groups, start = [], 0
    for group in sub_groups(sizes, n, sub_group_size):
        groups.append((sum(group), sizes[start:start + len(group)]))
        start += len(group)
    largest = max(groups, key=lambda g: g[0])[1]  # max keeps the first of equals, as stage3
    return Term(category="buffers", name="parameter write-back buffer (NVMe)", place="host",
                nbytes=w * sum(math.ceil(s / align) * align for s in largest),
                note="reserve_partitioned_swap_space: the largest sub-group's whole "
                     "parameters, aligned")


def _nvme_swap_buffers(sizes: list[int], n: int, sub_group_size: int) -> Term:
    """ZeRO-3 with the optimizer on NVMe swaps each sub-group's fp32 partition, states and
    gradient through the optimizer swapper's buffers (swap_tensor/optimizer_utils.py): the
    offload_optimizer section's buffer_count (4) fp32 buffers of the largest sub-group's
    elements, aligned for async I/O (1024 bytes: 256 elements); no fp32 gradient copy stays
    on the host. Measured (base, 2 ranks): 19.18 MiB of buffers at rest, exactly this."""
    largest = max(sum(g) for g in sub_groups(sizes, n, sub_group_size))
    aligned = math.ceil(largest / _AIO_ELEMENTS) * _AIO_ELEMENTS
    return Term(category="buffers", name="optimizer swap buffers (NVMe)",
                nbytes=_SWAP_BUFFERS * 4 * aligned, place="host",
                note="staging for the sub-groups swapped to and from NVMe")


def _states(nbytes: int, counters: int, place: str) -> Term:
    note = f"+ {counters} fp32 step counter(s) of torch's AdamW" if counters else ""
    return Term(category="optimizer_state", name="optimizer.state", nbytes=nbytes + 4 * counters,
                place=place, note=note)


def _zero12_grads(sizes: list[int], *, stage: int, n: int, rank: int, w: int, part: int,
                  accum: int, offload: bool) -> list[Term]:
    terms, opt = [], "host" if offload else "device"
    if offload:
        terms.append(Term(category="grads", name="single_partition_of_fp32_groups[i].grad",
                          nbytes=4 * part, place="host",
                          note="DeepSpeed 0.19.8 keeps the fp32 gradient partition on the "
                               "host for the whole run"))
    if accum > 1 and stage == 1:
        terms.append(Term(category="grads", name="param.grad", nbytes=w * sum(sizes),
                          note="ZeRO-1 keeps every gradient whole until the boundary micro-step"))
    elif accum > 1:
        held = w * overlapping_elements(sizes, lo=rank * part, hi=(rank + 1) * part)
        name = "accumulated_grads_in_cpu" if offload else "grads_in_partition"
        terms.append(Term(category="grads", name=name, nbytes=held, place=opt,
                          note="between micro-steps ZeRO-2 keeps whole every parameter's "
                               "gradient that overlaps this rank's partition"))
    elif not offload:
        terms.append(Term(category="grads", name="averaged_gradients", nbytes=w * part,
                          note="DeepSpeed 0.19.8 reduces into this rank's partition at the end "
                               "of backward and frees the rest (ZeRO-1 too)"))
    return terms


def _zero12_buffers(sizes: list[int], zero: dict, *, w: int, part: int,
                    offload: bool) -> list[Term]:
    terms = []
    if zero["contiguous_gradients"]:
        copies = 2 if zero["overlap_comm"] else 1
        terms.append(Term(category="buffers", name="ipg_buckets (reduce bucket)",
                          nbytes=copies * w * int(zero["reduce_bucket_size"]),
                          note=f"{copies} x reduce_bucket_size elements"))
    if offload:
        terms += [Term(category="buffers", name="temp_grad_buffer_for_gpu_offload",
                       nbytes=w * max(sizes), note="the largest parameter"),
                  Term(category="buffers", name="temp_grad_buffer_for_cpu_offload",
                       nbytes=w * max(sizes), place="host", note="the largest parameter"),
                  Term(category="buffers", name="param_buffer_of_bit16_for_cpu_offload_groups",
                       nbytes=w * part, place="host")]
    return terms


def _rank_dependent(values: dict) -> bool:
    return values["zero_stage"] == 2 and int(values["grad_accum"]) > 1


def activation_bytes(spec: ModelSpec, *, micro_batch: int, seq_len: int, width: int,
                     checkpoint_every: int = 0) -> int:
    """Korthikanti et al.'s per-layer activations, scaled from 16-bit to `width` bytes."""
    s, b, h, a, L = seq_len, micro_batch, spec.d_model, spec.n_head, spec.n_layer
    per_layer = s * b * h * (34 + 5 * a * s / h) * width / 2
    if checkpoint_every:
        kept = L // checkpoint_every  # checkpointed layers keep only their input
        layers = kept * 2 * s * b * h * width / 2 + (L - kept) * per_layer + per_layer
    else:
        layers = L * per_layer
    logits = 2 * s * b * spec.vocab_size * 4  # fp32 logits and their gradient in the loss
    return int(layers + logits)
