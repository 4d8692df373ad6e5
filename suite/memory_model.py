"""The analytical memory model: predicted bytes per rank for a scenario, before anything runs.

Model states follow the ZeRO paper (Rajbhandari et al. 2020): with Ψ parameters,
N ranks and K bytes of optimizer state per parameter, mixed-precision training
holds 2Ψ + 2Ψ + KΨ bytes at stage 0 (K = 12 for Adam: fp32 master, m, v);
stage 1 shards the K term, stage 2 the gradients too, stage 3 everything.
The categories are the ledger's (jobs/ledger.py) so prediction and measurement
line up: the fp32 master copy is its own category, not part of "optimizer
states". Activations follow Korthikanti et al. 2022: s·b·h·(34 + 5·a·s/h)
bytes per layer at 16-bit, 2·s·b·h per layer kept under full recompute.
"""

from __future__ import annotations

from dataclasses import dataclass

from suite.models import ModelSpec, model_spec

_DTYPE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
_STATE_BYTES = {"adamw": 8, "sgd": 0}  # fp32 states per parameter: Adam m and v; plain SGD none


@dataclass(frozen=True, kw_only=True)
class Prediction:
    params_bytes: int
    grads_bytes: int
    master_params_bytes: int
    optimizer_state_bytes: int
    activation_bytes: int
    offloaded_bytes: int  # of the above, what offload moves off the GPU (0 on the CPU)

    @property
    def model_state_bytes(self) -> int:
        return (self.params_bytes + self.grads_bytes + self.master_params_bytes
                + self.optimizer_state_bytes)

    @property
    def total_bytes(self) -> int:
        return self.model_state_bytes + self.activation_bytes

    @property
    def device_bytes(self) -> int:
        """What must fit in the compute device's memory."""
        return self.total_bytes - self.offloaded_bytes


def predict(values: dict) -> Prediction:
    """Predicted per-rank bytes for a scenario's axis values (`Scenario.values`)."""
    spec = model_spec(values["model"])
    psi, n, stage = spec.n_params, values["world_size"], values["zero_stage"]
    width = _DTYPE_BYTES[values["precision"]]
    # DeepSpeed's ZeRO optimizers keep an fp32 copy of their partition even in fp32
    # training; at stage 0 only mixed precision needs one.
    master = 4 if (stage > 0 or width != 4) else 0

    def shard(nbytes: float, from_stage: int) -> int:
        return int(nbytes / n) if stage >= from_stage else int(nbytes)

    states = shard(_STATE_BYTES[values["optimizer"]] * psi, 1)
    masters = shard(master * psi, 1)
    # On the CPU "offloading" moves bytes between categories, not out of the same memory.
    offloaded = 0
    if values["offload_optimizer"] != "none" and values["device"] != "cpu":
        offloaded = states + masters
    return Prediction(
        params_bytes=shard(width * psi, 3), grads_bytes=shard(width * psi, 2),
        master_params_bytes=masters, optimizer_state_bytes=states,
        activation_bytes=activation_bytes(spec, micro_batch=values["micro_batch"],
                                          seq_len=values["seq_len"], width=width,
                                          checkpoint_every=values.get("checkpoint_every", 0)),
        offloaded_bytes=offloaded)


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
