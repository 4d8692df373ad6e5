"""The analytical peak: per rank and phase, the bytes a training step reaches, term by term.

suite/memory_model.py predicts what a rank holds at rest (the ledger's categories and
DeepSpeed's scratch buffers). A run fits or not by its peak, which adds what exists only
for part of a step. Here each term names the phases it exists in and where it lives
("device", "host", "nvme"); a phase's peak is the sum of its terms, the step's peak the
largest phase. What jobs/peak_probe.py measures (live tensor bytes on the compute device;
on the CPU device and host are one memory) is what this predicts.

Terms beyond the state at rest, each measured on DeepSpeed 0.19.8 (tests/jobs/test_peak.py):

* activations (forward end, start of backward): from the model's own operations
  (suite/gpt.py, SDPA, no dropout): per block b·s·((16h + 4)·w + 4a) bytes -- ln1, qkv,
  q/k/v, attention output, proj input, ln2, fc, 4h gelu input and 4h out input, the two
  layer norms' mean and rstd, SDPA's fp32 log-sum-exp per head; a checkpointed block keeps
  its input b·s·h·w, and ceil(L/k) blocks are checkpointed. Then ln_f's and the head's
  inputs, the token ids, and log_softmax's fp32 output b·s·V·4. The Llama block
  (suite/llama.py): b·s·(8h + 8 + 4a + w·(6h + 2·kv + 4·ffn)) + 4·s·d·w -- two RMSNorms
  (fp32 input, rstd, normalised, weighted), rotated q, k (kv = kv_heads·head_dim wide), v,
  attention output, log-sum-exp, SwiGLU's gate, silu, up and product, rotary's cos and sin
  (s·head_dim each, for q and k); then the final RMSNorm, ids and log_softmax (untied head:
  no position ids). Sequence parallel: s is the rank's slice, plus o_proj's input b·s·h·w
  (the all-to-all's output, no longer a view of SDPA's). Tensor parallel (AutoTP): the
  attention and SwiGLU tensors are 1/tp wide, the norms whole. `activations="paper"`
  uses Korthikanti et al.'s s·b·h·(34 + 5as/h) instead (stored scores, dropout masks).
* logits: b·s·V·w in the forward (and their fp32 copy at 16-bit).
* gradients until the end of backward: ZeRO-0's torch gradients and the flat copy its
  all-reduce makes; ZeRO-2 copies each gradient into the reduce bucket
  (reduce_bucket_size elements, allocated whole) as backward produces it and reduces it
  there (suite/zero2_partition.py); ZeRO-1 without accumulation hands its gradients to the
  bucket only once backward has made them all (whole then, the activations freed); the
  bucket exists in backward (all phases when accumulation keeps it).
* ZeRO-3: the bucket from the engine's start; the gathered parameters, which stay
  gathered for reuse within stage3_max_reuse_distance (1e9): a model under 1e9
  parameters is held whole from the first forward until backward releases it, with the
  coalesced prefetch's flat buffer in the forward; at backward's end the first module's
  parameters and the reduce-scatter's temporaries. Under a distance below the model
  (stage3_live = "block", suite/strategies/zero.py) what DeepSpeed's release rules keep,
  replayed on a GPT's module trace (suite/zero3_gather.py).
* ZeRO-2: a rank's gradient partition (grads_in_partition: the parameters overlapping it,
  whole) is made at the first reduction of a bucket holding one of its gradients, found by
  filling the bucket in backward order (suite/zero2_partition.py), with or without
  accumulation: the last rank's at the first reduction, so ranks differ; at backward's end,
  after that reduction's temporaries, when one bucket holds every gradient (DeepSpeed's 5e8
  elements on small models). Made earlier, it counts at the early point less the
  activations backward has freed by then (their share of the parameters passed), and the
  gradient that overflowed the fill, if larger than the bucket, waits outside it until the
  next one arrives. With accumulation each micro-step after the first holds it at
  backward's end too, next to the sum so far (measured at grad_accum 1, 2 and 3).
* the step: torch AdamW's two fp32 temporaries of the tensor it steps, and at 16-bit
  the fp32 gradients of the master copy; ZeRO-3 steps sub-group by sub-group
  (sub_group_size), each with a flat fp32 copy of its gradients.
* offload_param: the parameter partitions on the host; NVMe: on disk, not in RAM, and
  released after each use (stage3_max_reuse_distance = 0, the offload strategy's): what
  stays gathered, the end of backward's reduce-scatter temporaries (gloo), the tied token
  table gathered twice (suite/zero3_gather.py).
* a strategy's own (its `block_widths` and `peak_terms` hooks, suite/strategy_spec.py):
  structured pruning's narrower blocks, unstructured pruning's weight_orig x mask copies,
  distillation's loss in place of the model's logits and loss gradients.
* pipeline stages (a strategy's `layer_share`): a stage's blocks only, times the micro-batches
  in flight (1F1B: stages - stage); the embedding's ids on the first, the head and loss on the
  last; the hidden states a stage sent, kept until their backward, and its receive buffers;
  the last stage's logits, which stay in DeepSpeed's output buffers (2 slots).

`runtime_bytes` (suite/prediction.py runtime_bytes: per engine, measured with
`memsweep bench-runtime`) is what the runtime adds, a named term the budget adds; the tensor
peak does not contain it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from suite.memory_model import (
    _DTYPE_BYTES,
    aligned_partition,
    predict,
    smallest_swap_bytes,
    zero_config,
)
from suite.memory_model import activation_bytes as paper_activation_bytes
from suite.models import ModelSpec, model_spec
from suite.parallel import (
    model_parallel,
    rank_layers,
    rank_parameter_sizes,
    rank_seq_len,
    shard_rank,
    shard_ranks,
    shares_differ,
)
from suite.peak_term import ALL, PHASES, POINTS, SAVED, PeakTerm
from suite.prediction import TRAINING_KINDS, runtime_bytes
from suite.strategies import active, effective
from suite.strategy_spec import BlockWidths, LayerShare
from suite.zero2_partition import (
    first_reduction,
    first_reductions,
    overlapping_elements,
    reductions,
)
from suite.zero3_gather import (
    coalesced_prefetch_elements,
    gathered_elements,
    reduce_scatter_elements,
    released_gathered_elements,
    tied_backward_end_elements,
    tied_regather_elements,
)
from suite.zero3_sub_groups import flat_copy_elements, sub_groups

ACTIVATION_MODES = ("ops", "paper")


@dataclass(frozen=True, kw_only=True)
class PeakPrediction:
    rank: int
    device: str
    terms: tuple[PeakTerm, ...]
    runtime_bytes: int  # the runtime baseline (Python, torch, DeepSpeed, gloo) per rank

    def phase_bytes(self, phase: str, place: str = "device") -> int:
        """A phase's peak in `place`; on the CPU "device" means all of RAM (host included)."""
        return max(self.point_bytes(p, place) for p in POINTS[phase])

    def point_bytes(self, point: str, place: str = "device") -> int:
        return sum(t.nbytes for t in self._at(point, place))

    def _at(self, point: str, place: str = "device") -> list[PeakTerm]:
        places = ("device", "host") if self.device == "cpu" and place == "device" else (place,)
        return [t for t in self.terms if point in t.points and t.place in places]

    @property
    def peak_phase(self) -> str:
        return max(PHASES, key=self.phase_bytes)

    @property
    def peak_bytes(self) -> int:
        """The step's peak of tensor bytes on the compute device (what jobs/peak_probe.py
        measures, max_memory_allocated on a GPU)."""
        return self.phase_bytes(self.peak_phase)

    @property
    def host_peak_bytes(self) -> int:
        return max(self.phase_bytes(p, "host") for p in PHASES)

    @property
    def nvme_bytes(self) -> int:
        return max(self.phase_bytes(p, "nvme") for p in PHASES)

    @property
    def budget_bytes(self) -> int:
        """Against a rank's memory budget: the peak plus the runtime baseline."""
        return self.peak_bytes + self.runtime_bytes

    def breakdown(self, phase: str | None = None) -> dict[str, int]:
        """Bytes per category at a phase's peak (default: the step's peak phase)."""
        phase = phase or self.peak_phase
        point = max(POINTS[phase], key=self.point_bytes)
        out: dict[str, int] = {}
        for t in self._at(point):
            out[t.category] = out.get(t.category, 0) + t.nbytes
        return out


def predict_peak(values: dict, *, rank: int | None = None,
                 activations: str = "ops") -> PeakPrediction:
    """The peak per phase for a training scenario's axis values on `rank` (None: the rank
    whose peak is highest)."""
    if activations not in ACTIVATION_MODES:
        raise ValueError(f"activations {activations!r} is not one of {ACTIVATION_MODES}")
    spec = model_spec(values["model"])
    if rank is None and values["zero_stage"] == 2 and int(values["world_size"]) > 1:
        return max((predict_peak(values, rank=r, activations=activations)
                    for r in _zero2_ranks(values, spec)),
                   key=lambda p: (p.peak_bytes, -p.rank))
    if rank is None and shares_differ(values, spec):  # e.g. pipeline stages
        return max((predict_peak(values, rank=r, activations=activations)
                    for r in range(model_parallel(values))),
                   key=lambda p: (p.peak_bytes, -p.rank))
    rest = predict(values, rank=rank)
    terms = _rest_terms(values, rest.terms)
    terms += _activation_terms(values, spec, activations, rank_layers(values, spec, rest.rank))
    terms += _strategy_terms(values, spec)
    # BF16_Optimizer (the pipeline engine's at bf16, ZeRO-0) steps one flat fp32 group
    flat = any(t.name == "fp32_groups_flat_partition" for t in rest.terms)
    terms += _transient_terms(values, spec, rest.rank, flat=flat)
    saved = sum(t.nbytes for t in terms if t.name.startswith("activations ("))
    terms += _backward_partition_terms(values, spec, rest.rank, saved=saved)
    return PeakPrediction(rank=rest.rank, device=str(values["device"]), terms=tuple(terms),
                          runtime_bytes=runtime_bytes(values, sum(spec.parameter_sizes())))


def _zero2_ranks(values: dict, spec: ModelSpec) -> list[int]:
    """The ranks whose ZeRO-2 peak can be the highest (ranks differ: _backward_partition_terms):
    the first and the last, the one holding the most whole parameters (its partition at rest
    with accumulation and at backward's end), and of those the first reduction reaches with
    the last rank, the one holding the most (made as early)."""
    n, mp = shard_ranks(values), model_parallel(values)
    sizes = rank_parameter_sizes(values, spec, 0)
    part = aligned_partition(sum(sizes), n)
    bucket = int(zero_config(values)["reduce_bucket_size"])
    spans = [(p * part, (p + 1) * part) for p in range(n)]
    held = [overlapping_elements(sizes, lo=lo, hi=hi) for lo, hi in spans]
    first = first_reductions(sizes, bucket, spans)
    places = {max(range(n), key=held.__getitem__),
              max((p for p in range(n) if first[p] == first[-1]), key=held.__getitem__)}
    return sorted({0, int(values["world_size"]) - 1} | {p * mp for p in places})


def _strategies(values: dict):
    """The active strategies and the values their hooks take (presets resolved)."""
    return active(values), effective(values)


def _strategy_terms(values: dict, spec: ModelSpec) -> list[PeakTerm]:
    """What active strategies add to the peak beyond their state at rest (their peak_terms)."""
    found, eff = _strategies(values)
    return [t for s in found if s.peak_terms is not None for t in s.peak_terms(eff, spec)]


def _block_widths(values: dict, spec: ModelSpec) -> BlockWidths:
    found, eff = _strategies(values)
    for s in found:
        if s.block_widths is not None:
            return s.block_widths(eff, spec)
    return BlockWidths(heads=spec.n_head, ffn=spec.ffn)


def _own_loss(values: dict) -> bool:
    """Whether the model's own loss runs (a strategy's objective replaces it: its peak_terms
    then hold the loss's terms)."""
    return not any(s.objective is not None for s in _strategies(values)[0])


def _backward_partition_terms(values: dict, spec: ModelSpec, rank: int, *,
                              saved: int) -> list[PeakTerm]:
    """ZeRO-2 makes this rank's gradient partition (grads_in_partition: every parameter
    overlapping the partition, whole) at the first reduction of a bucket holding one of its
    gradients (suite/zero2_partition.py), with or without accumulation. Made at the
    epilogue's reduction, the last, it comes after that reduction's temporaries are freed: no
    term (at grad_accum 1 the flat partition at rest stands for it at backward's end). Made
    earlier, it counts at the early point (every activation) less the activations freed by
    then (`saved` x the share of the parameters backward has passed), none when they outweigh
    it: nearly all of it on the last rank, whose gradients come first, unless one bucket holds
    them all (DeepSpeed's 5e8 elements on small models). With accumulation it is also the
    micro-step's own at backward's end, next to the sum of the earlier ones (the term at
    rest), until the epilogue adds it into the sum (independent_gradient_partition_epilogue);
    without, the flat copy made from it at backward's end is the term at rest. A gradient
    larger than the bucket that reduces the fill (extra_large_param_to_reduce) waits on as
    autograd made it until the next one arrives, past the partition's allocation. Measured
    on `small`, 2 ranks, fp32, "auto" buckets (65,536 elements; out.w's 262,144 reduce the
    first fill), rank 1, MiB measured / predicted, in one launch with other scenarios (run
    alone): grad_accum 1 63.34 / 63.59 (64.34; 61.71 predicted with the aligned partition
    and no waiting gradient), grad_accum 2 71.38 / 71.62 (72.37); 3 ranks, rank 2: 53.18 /
    53.42, 58.20 / 58.44; DeepSpeed's buckets, grad_accum 1: 1963.41 on both ranks (the
    partition is made at backward's end: no early term; 1970.56 predicted there). grad_accum
    2 with buckets of 1e6, 2e6, 3e6 elements (deepspeed_base): measured / predicted 1.009,
    0.981, 0.936 on rank 1 (backward's end counts the reduced copy of a whole bucket, the
    last one holds less), 1.024, 1.025, 0.967 on rank 0."""
    n, zero = shard_ranks(values), zero_config(values)
    if values["zero_stage"] != 2 or n < 2 or values["offload_optimizer"] != "none" \
            or not zero["contiguous_gradients"]:
        return []
    sizes, bucket = rank_parameter_sizes(values, spec, rank), int(zero["reduce_bucket_size"])
    psi, place = sum(sizes), shard_rank(values, rank)
    part = aligned_partition(psi, n)
    fills = reductions(sizes, bucket)
    first = first_reduction(sizes, bucket, lo=place * part, hi=(place + 1) * part)
    if first is None or first == len(fills) - 1:
        return []
    w = _DTYPE_BYTES[values["precision"]]
    held = w * overlapping_elements(sizes, lo=place * part, hi=(place + 1) * part)
    freed = saved * sum(map(sum, fills[:first + 1])) // psi
    terms = []
    if int(values["grad_accum"]) > 1:
        terms.append(PeakTerm(name="gradient partition of the micro-step (accumulation)",
                              points=("bwd_end",), nbytes=held, category="grads",
                              note="grads_in_partition, made again each micro-step and added "
                                   "into the sum of the earlier ones at backward's end"))
    if held <= freed:
        return terms
    terms.append(PeakTerm(name="gradient partition made in backward, less the activations "
                               "freed by then", points=("bwd_early",), nbytes=held - freed,
                          category="grads",
                          note="grads_in_partition at its allocation, where the early point "
                               "counts every activation"))
    trigger = fills[first + 1][0]  # the gradient whose arrival reduced the fill
    if trigger > bucket:
        terms.append(PeakTerm(name="gradient larger than the reduce bucket, waiting",
                              points=("bwd_early",), nbytes=w * trigger, category="grads",
                              note="extra_large_param_to_reduce: reduced when the next "
                                   "gradient arrives"))
    return terms


def _rest_terms(values: dict, rest_terms) -> list[PeakTerm]:
    """The state at rest, placed where DeepSpeed keeps it, in the phases it exists."""
    stage, accum = values["zero_stage"], int(values["grad_accum"])
    offload_param = values.get("offload_param", "none")
    out = []
    for t in rest_terms:
        place = t.place
        if t.category == "params" and stage == 3 and offload_param != "none" \
                and t.name == "fp16_partitioned_groups_flat":
            place = "host" if offload_param == "cpu" else "nvme"
        if t.category in ("master_params", "optimizer_state") and place == "host" \
                and values["offload_optimizer"] == "nvme":
            place = "nvme"
        points = ALL
        if t.category == "grads" and accum == 1 and stage in (0, 1, 2) and place == "device":
            points = ("bwd_end", "step")  # set to None / reduced into a fresh partition
        if t.category == "buffers" and "reduce bucket" in t.name and stage in (1, 2) \
                and (accum == 1 or stage == 2 or "released at the step" in t.name):
            # allocated at backward's first gradient, freed at its end (ZeRO-1 with
            # accumulation keeps it between micro-steps)
            points = ("bwd_early", "bwd_end")
        out.append(PeakTerm(name=t.name, nbytes=t.nbytes, points=points, place=place,
                            category="buffers" if t.category == "buffers" else t.category,
                            note=t.note))
    return out


def block_activation_bytes(spec: ModelSpec, *, micro_batch: int, seq_len: int,
                           width: int, sequence_parallel: int = 1,
                           tensor_parallel: int = 1, widths: BlockWidths | None = None) -> int:
    """What one transformer block saves for backward (suite/gpt.py's or suite/llama.py's
    Block, SDPA). `seq_len`: the positions this rank feeds (a sequence-parallel rank's
    slice of `seq_len * sequence_parallel`); `tensor_parallel`: AutoTP's share of the heads
    and the MLP width (the norms and the projections' inputs stay whole); `widths`: the
    block's heads and MLP width as built (default: the model's; structured pruning narrows
    them, suite/model_surgery.py's PrunedBlock)."""
    widths = widths or BlockWidths(heads=spec.n_head, ffn=spec.ffn)
    b, s, h, w = micro_batch, seq_len, spec.d_model, width
    a, f, inner = widths.heads, widths.ffn, widths.heads * spec.head_dim
    # Ulysses' all-to-all hands o_proj a new tensor, where without it o_proj's input is a
    # view of SDPA's output (saved anyway): one more attention-wide tensor per token.
    split = b * s * inner * w if sequence_parallel > 1 else 0
    if spec.family == "gpt":
        # Per token: the block's input and ln1's output (h each), q, k, v (views of qkv's
        # output) and SDPA's output (proj's input is a view of it), ln2's input and output,
        # fc's and gelu's outputs (f each), the norms' mean and rstd, SDPA's fp32 log-sum-exp
        # per head: (16h + 4)·w + 4a for the model's own widths.
        return b * s * ((4 * h + 4 * inner + 2 * f + 4) * w + 4 * a) + split
    kv = spec.kv_heads * spec.head_dim
    # Per token, each RMSNorm: its fp32 input (x.float(): x itself in fp32), fp32 rstd, the
    # normalised x and x times the weight (the projections' input); attention: q and k
    # after rotation (kv-wide for k), v (kv-wide), the output (o_proj's input is a view of
    # it), fp32 log-sum-exp per head; SwiGLU: gate, silu(gate), up and their product
    # (down's input), each ffn-wide. Rotary saves its cos and sin for q and for k, s x
    # head_dim each, computed for the whole sequence, whatever the batch.
    norms = 2 * (4 * h + 4 + 2 * w * h)
    attention = w * (2 * inner + 2 * kv) + 4 * a
    sharded = (attention + 4 * w * f) // tensor_parallel
    return (b * s * (norms + sharded) + split
            + 4 * s * sequence_parallel * spec.head_dim * w)


def activation_bytes(spec: ModelSpec, *, micro_batch: int, seq_len: int, width: int,
                     checkpoint_every: int = 0, sequence_parallel: int = 1,
                     tensor_parallel: int = 1, share: LayerShare | None = None,
                     widths: BlockWidths | None = None) -> int:
    """Everything the forward saves for backward, derived from the model's operations.
    `seq_len`, `widths`: see block_activation_bytes; of the layers `share` runs (default:
    all), for each of its micro-batches in flight."""
    share = share or LayerShare(blocks=spec.n_layer)
    b, s, h, L = micro_batch, seq_len, spec.d_model, share.blocks
    block = block_activation_bytes(spec, micro_batch=b, seq_len=s, width=width,
                                   sequence_parallel=sequence_parallel,
                                   tensor_parallel=tensor_parallel, widths=widths)
    kept = math.ceil(L / checkpoint_every) if checkpoint_every else 0  # i % k == 0
    blocks = kept * b * s * h * width + (L - kept) * block
    log_softmax = b * s * spec.vocab_size * 4  # its fp32 output
    if spec.family == "gpt":
        # token ids and positions where the embedding is, targets where the loss is (int64)
        ids = 8 * (b * s + s) * share.embeds + 8 * b * s * share.head
        head = (b * s * (2 * h + 2) * width + log_softmax) * share.head  # ln_f, head
    else:
        # token ids and targets (int64); the final RMSNorm as a block's (its weighted output
        # is the head's input)
        ids = 8 * b * s * (share.embeds + share.head)
        head = (b * s * (4 * h + 4 + 2 * width * h) + log_softmax) * share.head
    return (blocks + ids + head) * share.in_flight


def _activation_terms(values: dict, spec: ModelSpec, mode: str,
                      share: LayerShare) -> list[PeakTerm]:
    b, s = int(values["micro_batch"]), rank_seq_len(values)  # a rank's slice of the sequence
    w = _DTYPE_BYTES[values["precision"]]
    k = int(values.get("checkpoint_every", 0))
    if mode == "paper":  # Korthikanti's formula
        saved = share.in_flight * paper_activation_bytes(
            replace(spec, n_layer=share.blocks), micro_batch=b, seq_len=s, width=w,
            checkpoint_every=k)
    else:
        saved = activation_bytes(spec, micro_batch=b, seq_len=s, width=w, checkpoint_every=k,
                                 sequence_parallel=int(values["seq_len"]) // s,
                                 tensor_parallel=int(values.get("tensor_parallel", 1)),
                                 share=share, widths=_block_widths(values, spec))
    terms = [PeakTerm(name=f"activations ({mode})", nbytes=saved, category="activations",
                      points=SAVED)]
    if share.head and _own_loss(values):
        logits = b * s * spec.vocab_size * (w + (4 if w != 4 else 0))
        dlogits = b * s * spec.vocab_size * (8 + (w if w != 4 else 0))
        terms += [
            PeakTerm(name="logits", nbytes=logits, points=("forward",), category="temporaries",
                     note="the head's output (and its fp32 copy at 16-bit) until the loss"),
            PeakTerm(name="loss gradients", nbytes=dlogits, points=("bwd_start",),
                     category="temporaries",
                     note="the gradients of log_softmax's output and of the logits (fp32)")]
    return terms + _boundary_terms(share, b * s * spec.d_model * w, b * s * spec.vocab_size * w)


def _boundary_terms(share: LayerShare, hidden: int, logits: int) -> list[PeakTerm]:
    """A pipeline stage's outputs and receive buffers: the hidden states (b·s·h) it sent, kept
    until their gradient comes back, and the buffers it receives activations and gradients
    into; the last stage's logits stay in its output buffers until they are reused."""
    if not share.kept_outputs:
        return []
    if share.head:
        terms = [PeakTerm(name="logits kept in the pipeline's output buffers", points=ALL,
                          nbytes=share.kept_outputs * logits, category="temporaries")]
    else:
        terms = [PeakTerm(name="stage outputs kept for backward", category="activations",
                          nbytes=share.kept_outputs * hidden,
                          points=("forward", "bwd_start", "bwd_early")),
                 PeakTerm(name="gradient receive buffer", nbytes=hidden, category="buffers",
                          points=("bwd_start", "bwd_early", "bwd_end", "step"))]
    if not share.embeds:
        terms.append(PeakTerm(name="activation receive buffer", nbytes=hidden, points=ALL,
                              category="buffers"))
    return terms


def _transient_terms(values: dict, spec: ModelSpec, rank: int, *,
                     flat: bool = False) -> list[PeakTerm]:
    n, w = shard_ranks(values), _DTYPE_BYTES[values["precision"]]
    sizes = rank_parameter_sizes(values, spec, rank)
    zero = zero_config(values)
    return (_step_terms(values, sizes, n, flat=flat) + _master_grad_terms(values, sizes, n)
            + _zero3_step_gradient_terms(values, sizes, n)
            + _reduce_terms(values, sizes, zero, w) + _tied_gradient_terms(values, spec, sizes, w))


def _zero3_step_gradient_terms(values: dict, sizes: list[int], n: int) -> list[PeakTerm]:
    """ZeRO-3 without offload steps each sub-group on a flattened fp32 copy of its averaged
    gradients (stage3.py _prepare_fp32_grad_for_sub_group), made while the partition still
    exists: 4 bytes per element of the sub-group, at any precision; none for a sub-group of
    one fp32 parameter (a view). Measured at 3.75M, 26.5M and 30.7M parameters, 2 ranks,
    fp32, one sub-group (DeepSpeed's default sub_group_size): the step phase's peak exceeds
    the other terms by exactly the partition."""
    if values["zero_stage"] != 3 or values["offload_optimizer"] != "none":
        return []
    group = _zero3_step_group(values, sizes, n)
    nbytes = 4 * flat_copy_elements(group, _DTYPE_BYTES[values["precision"]])
    return [PeakTerm(name="ZeRO-3 flat fp32 gradient of a sub-group", points=("step",),
                     category="grads", nbytes=nbytes,
                     note="the averaged gradients of the sub-group stepped, flattened")] \
        if nbytes else []


def _zero3_step_group(values: dict, sizes: list[int], n: int) -> list[int]:
    """The sub-group (partition elements per parameter) at whose step ZeRO-3 peaks: the
    largest flat gradient copy plus AdamW's two fp32 temporaries (suite/zero3_sub_groups.py)."""
    width = _DTYPE_BYTES[values["precision"]]
    groups = sub_groups(sizes, n, int(zero_config(values)["sub_group_size"]))
    return max(groups, key=lambda g: 4 * flat_copy_elements(g, width) + 8 * sum(g))


def _tied_gradient_terms(values: dict, spec: ModelSpec, sizes: list[int],
                         w: int) -> list[PeakTerm]:
    """A tied embedding gets two gradients: the head's, made first in backward and kept, and
    the embedding lookup's, made last; autograd sums them into a third tensor before the
    hook that hands the sum to ZeRO. Measured on a V x d = 32000 x 384 GPT at ZeRO-1/2/3
    (bench-runtime, suite/sweeps/capacity.toml): 3·V·d·w of temporaries at the end of
    backward. At ZeRO-0 the flat all-reduce copy that follows is larger, and at ZeRO-3 with
    the whole model gathered so are the gathered parameters (measured): not a peak there.
    Pipeline stages hold the embedding and the head on different ranks: not measured."""
    stage = values["zero_stage"]
    if not spec.ties or stage == 0 or int(values.get("pipeline_stages", 1)) > 1:
        return []
    zero = zero_config(values) if stage == 3 else {}
    if stage == 3 and (_gathered(sizes, zero) >= sum(sizes) or _replayed(values, sizes, zero)):
        return []  # whole: the gathered parameters outweigh them; replayed: its own term
    return [PeakTerm(name="tied embedding gradients", points=("bwd_end",), category="temporaries",
                     nbytes=3 * spec.vocab_size * spec.d_model * w,
                     note="the head's and the lookup's gradients of the shared embedding and "
                          "their sum")]


def _step_terms(values: dict, sizes: list[int], n: int, *, flat: bool = False) -> list[PeakTerm]:
    """torch's AdamW (DeepSpeed's torch_adam on the CPU without offload) steps one tensor at a
    time with two fp32 temporaries of its size: at ZeRO-0 the largest parameter (all of them
    when the wrapper flattens them: `flat`), at ZeRO-1/2 this rank's flat fp32 partition, at
    ZeRO-3 one sub-group of it (sub_group_size). DeepSpeedCPUAdam (offload) works in place."""
    if values["optimizer"] != "adamw" or values["offload_optimizer"] != "none" \
            or values["device"] != "cpu":
        return []
    stage, psi = values["zero_stage"], sum(sizes)
    if stage == 0:
        largest = psi if flat else max(sizes)
    elif stage in (1, 2):
        largest = aligned_partition(psi, n)
    else:
        largest = sum(_zero3_step_group(values, sizes, n))
    return [PeakTerm(name="AdamW step temporaries", nbytes=2 * 4 * largest, points=("step",),
                     category="temporaries", note="two fp32 temporaries of the tensor stepped")]


def _master_grad_terms(values: dict, sizes: list[int], n: int) -> list[PeakTerm]:
    """At 16-bit the step works on fp32 gradients of the fp32 master copy: ZeRO-0's
    FP16_UnfusedOptimizer converts every gradient (4Ψ), ZeRO-1/2 this rank's partition
    (4Ψ/N, single_partition_of_fp32_groups[i].grad, in place of the 16-bit partition;
    offload keeps it for the whole run, memory_model's term)."""
    if _DTYPE_BYTES[values["precision"]] == 4 or values["offload_optimizer"] != "none":
        return []
    stage, psi = values["zero_stage"], sum(sizes)
    if stage == 0:
        nbytes = 4 * psi
    elif stage in (1, 2):  # it replaces the 16-bit partition, freed when it is made
        nbytes = (4 - _DTYPE_BYTES[values["precision"]]) * aligned_partition(psi, n)
    else:
        return []
    return [PeakTerm(name="fp32 gradients of the master copy", nbytes=nbytes, points=("step",),
                     category="grads")]


def _reduce_terms(values: dict, sizes: list[int], zero: dict, w: int) -> list[PeakTerm]:
    stage, psi = values["zero_stage"], sum(sizes)
    if stage == 0:
        return [PeakTerm(name="all-reduce flat gradients", points=("bwd_end",),
                         nbytes=w * min(psi, int(5e8)), category="temporaries",
                         note="the engine flattens the gradients (allreduce_bucket_size 5e8 "
                              "elements) to all-reduce them")]
    if stage in (1, 2):
        return [PeakTerm(name="reduced gradient copy", points=("bwd_end",),
                         nbytes=w * min(psi, int(zero["reduce_bucket_size"])),
                         category="temporaries",
                         note="the filled bucket's average before it is scattered")]
    if _released_after_use(values, zero):
        return _nvme_gather_terms(values, model_spec(values["model"]), sizes, zero, w)
    if _replayed(values, sizes, zero):
        return _released_gather_terms(values, model_spec(values["model"]), sizes, zero, w)
    gathered = _gathered(sizes, zero)
    if gathered < psi or int(zero["stage3_max_reuse_distance"]) == 0:
        return [PeakTerm(name="ZeRO-3 gathered parameters", nbytes=w * gathered,
                         points=("forward", "bwd_start", "bwd_early", "bwd_end"),
                         category="params",
                         note="min(Ψ, stage3_max_live_parameters): kept for reuse in backward")]
    return _whole_model_terms(values, sizes, zero, w)


def _whole_model_terms(values: dict, sizes: list[int], zero: dict, w: int) -> list[PeakTerm]:
    """ZeRO-3 keeping the whole model gathered for reuse (suite/zero3_gather.py). Measured on
    `base`, 2 ranks, fp32, DeepSpeed's buckets: the forward peaks with the coalesced
    prefetch's 41.37 MiB flat buffer (the model less the token table), backward ends with
    the reduce-scatter's 2 x 47.37 MiB and the token table still gathered."""
    n = shard_ranks(values)
    scatter = reduce_scatter_elements(sizes, int(zero["reduce_bucket_size"]), n,
                                      gloo=values["device"] == "cpu")
    terms = [PeakTerm(name="ZeRO-3 gathered parameters", nbytes=w * sum(sizes),
                      points=("forward", "bwd_start", "bwd_early"), category="params",
                      note="the whole model, kept for reuse until backward releases it"),
             PeakTerm(name="ZeRO-3 parameters gathered at backward's end", nbytes=w * sizes[0],
                      points=("bwd_end",), category="params",
                      note="the first module's, which backward reaches last"),
             PeakTerm(name="ZeRO-3 reduce-scatter temporaries", nbytes=w * scatter,
                      points=("bwd_end",), category="temporaries",
                      note="the largest bucket's gradients concatenated (and gloo's copy)")]
    if flat := coalesced_prefetch_elements(sizes, zero):
        terms.append(PeakTerm(name="ZeRO-3 coalesced prefetch buffer", nbytes=w * flat,
                              points=("forward",), category="temporaries",
                              note="the flat all-gather buffer of the prefetched parameters"))
    return terms


def _released_after_use(values: dict, zero: dict) -> bool:
    """Parameters on NVMe with stage3_max_reuse_distance = 0 (the offload strategy's config):
    ZeRO-3 releases them after each use (suite/zero3_gather.py)."""
    return values.get("offload_param", "none") == "nvme" \
        and int(zero["stage3_max_reuse_distance"]) == 0


def _replayed(values: dict, sizes: list[int], zero: dict) -> bool:
    """ZeRO-3 releasing parameters it will not reuse within stage3_max_reuse_distance (under
    the model: `stage3_live = "block"`, or a deepspeed_base setting it) on a GPT trained
    without checkpointing, whose module trace suite/zero3_gather.py replays. (Llama's, a
    checkpointed model's and one whose parameters a strategy reshapes are not written
    there: they keep the former term.)"""
    spec = model_spec(values["model"])
    return spec.family == "gpt" and not int(values.get("checkpoint_every", 0)) \
        and int(values.get("pipeline_stages", 1)) == 1 \
        and sum(sizes) == spec.n_params and int(zero["stage3_max_reuse_distance"]) < sum(sizes)


def _released_gather_terms(values: dict, spec: ModelSpec, sizes: list[int], zero: dict,
                           w: int) -> list[PeakTerm]:
    """ZeRO-3 releasing what it will not reuse soon, parameters in RAM (or offloaded to the
    CPU): DeepSpeed's fetch, prefetch and release rules replayed on the GPT's module trace
    (suite/zero3_gather.py released_gathered_elements). Measured on `small`, 2 ranks, fp32,
    "auto" buckets, stage3_live = "block" (both limits 789,760 elements): the forward ends
    with the token table (the root holds it for the head), the last block's fc and out
    (out reused within the distance, fc prefetched for backward): 4.00 MiB; backward ends
    with both embeddings (their backward release never fires) and the reductions'
    temporaries next to the tied table's gradients (suite/zero3_gather.py
    tied_backward_end_elements; at gpt-L8-d528-h11-ff2112-V15712 under capacity_ds.json
    94.94 MiB, the three tables, with the position table's 4.1 MiB gradient waiting, not a
    term: 483.85 / 479.72). 62.615 MiB measured / 62.613 predicted;
    DeepSpeed's buckets 1973.97 / 1973.96; `base` 190.04 / 190.15; under capacity_ds.json
    (reuse distance 0, several parameters per prefetch) 69.13 / 69.13."""
    n = shard_ranks(values)
    at = released_gathered_elements(sizes, zero, n_layer=spec.n_layer, ties=spec.ties,
                                    ranks=n)
    scatter = reduce_scatter_elements(sizes, int(zero["reduce_bucket_size"]), n,
                                      gloo=values["device"] == "cpu")
    note = "what the trace has not released: reused within stage3_max_reuse_distance, " \
           "prefetched, or held by the root"
    what = "the largest bucket's gradients concatenated (and gloo's copy)"
    if spec.ties:
        scatter = tied_backward_end_elements(sizes, int(zero["reduce_bucket_size"]), n,
                                             gloo=values["device"] == "cpu")
        what = "the tied table's two gradients and their sum, or a reduction's " + what
    terms = [PeakTerm(name="ZeRO-3 gathered parameters", nbytes=w * at["forward"],
                      points=("forward",), category="params", note=note),
             PeakTerm(name="ZeRO-3 gathered parameters at backward's start",
                      nbytes=w * at["bwd_start"], points=("bwd_start", "bwd_early"),
                      category="params", note=note),
             PeakTerm(name="ZeRO-3 parameters gathered at backward's end",
                      nbytes=w * at["bwd_end"], points=("bwd_end",), category="params",
                      note="the embeddings: their backward release never fires"),
             PeakTerm(name="ZeRO-3 reduce-scatter temporaries", nbytes=w * scatter,
                      points=("bwd_end",), category="temporaries", note=what)]
    if at["regather"]:
        terms.append(PeakTerm(name="tied token table gathered again", category="params",
                              nbytes=w * at["regather"], points=("bwd_start",),
                              note="released at the forward's end; autograd keeps the "
                                   "forward's copy for the head"))
    return terms


def _nvme_gather_terms(values: dict, spec: ModelSpec, sizes: list[int], zero: dict,
                       w: int) -> list[PeakTerm]:
    """ZeRO-3 releasing its parameters after use (suite/zero3_gather.py). Measured on
    `base`, 2 ranks, fp32: at DeepSpeed's buckets the end of backward's one reduce-scatter of
    every gradient (2Ψ of temporaries) is the peak above the 2 GB bucket; at "auto" buckets
    forward ends with 28.5 MiB gathered (the token table and 13 block matrices)."""
    n = shard_ranks(values)
    gathered = gathered_elements(spec, sizes, zero, ranks=n, width=w,
                                 smallest_swap=smallest_swap_bytes(values))
    scatter = reduce_scatter_elements(sizes, int(zero["reduce_bucket_size"]), n,
                                      gloo=values["device"] == "cpu")
    terms = [PeakTerm(name="ZeRO-3 gathered parameters", nbytes=w * gathered, category="params",
                      points=("forward", "bwd_start", "bwd_early", "bwd_end"),
                      note="released after each use: one submodule's, or what prefetch holds"),
             PeakTerm(name="ZeRO-3 reduce-scatter temporaries", nbytes=w * scatter,
                      points=("bwd_end",), category="temporaries",
                      note="the largest bucket's gradients concatenated, and gloo's copy")]
    if regather := tied_regather_elements(spec):
        terms.append(PeakTerm(name="tied token table gathered again", nbytes=w * regather,
                              points=("bwd_start",), category="params",
                              note="autograd keeps the forward's gathered copy for the head"))
    return terms


def _gathered(sizes: list[int], zero: dict) -> int:
    """ZeRO-3's parameters gathered at once. A gathered parameter is released only if its
    next use is further than stage3_max_reuse_distance (1e9) elements away, and at most
    stage3_max_live_parameters (1e9) stay gathered: a model under 1e9 parameters stays
    gathered whole through forward and backward (measured; at defaults the end of backward
    holds less, _whole_model_terms; stage3_max_reuse_distance = 0 alone does not change
    it), a larger one holds about max_live_parameters, and no fewer
    than the largest parameter and the prefetch bucket."""
    prefetch = int(zero["stage3_prefetch_bucket_size"])
    live = int(zero["stage3_max_live_parameters"])
    return min(sum(sizes), max(live, max(sizes) + prefetch))


def with_activations(prediction: PeakPrediction, nbytes: int) -> PeakPrediction:
    """The same prediction with another activation figure (a strategy's own)."""
    terms = tuple(replace(t, nbytes=nbytes) if t.name.startswith("activations (") else t
                  for t in prediction.terms)
    return replace(prediction, terms=terms)


def named_allocations(values: dict) -> dict[str, int]:
    """{what: bytes} of the single allocations the configuration sizes, which an OOM record
    names when the failed request has that size: DeepSpeed's buckets are sized for GPUs."""
    if values.get("kind", "train") == "inference" or values["zero_stage"] == 0:
        return {}
    w = _DTYPE_BYTES[values["precision"]]
    zero = zero_config(values)
    rbs = int(zero["reduce_bucket_size"])
    out = {f"reduce bucket (reduce_bucket_size = {rbs:,} elements x {w} bytes; "
           f"bucket_sizes = \"auto\" scales it to the model)": w * rbs}
    if values["zero_stage"] == 3:
        pbs = int(zero["stage3_prefetch_bucket_size"])
        out[f"ZeRO-3 prefetch bucket (stage3_prefetch_bucket_size = {pbs:,} elements)"] = w * pbs
    return out


def budget_need(values: dict) -> int:
    """What a rank needs of its memory budget -- as `plan --predict`, the capacity search and
    the report's largest-model page count it: a training scenario's tensor peak plus the
    runtime term (PeakPrediction.budget_bytes); another kind's memory-model budget (the peak
    model is training's)."""
    if values.get("kind", "train") not in TRAINING_KINDS:
        return predict(values).budget_bytes
    return predict_peak(values).budget_bytes
