"""What the analytical memory model predicts: a Prediction made of named Terms.

The core model (suite/memory_model.py) builds a Prediction from the scenario's axis
values; each strategy's `memory_term` (suite/strategies/) adds its own terms with
`add_term`. This module sits below both, so that neither imports the other to share it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

CATEGORIES = ("params", "grads", "master_params", "optimizer_state", "buffers")


@dataclass(frozen=True, kw_only=True)
class Term:
    """One named contribution: `nbytes` of `category` that DeepSpeed keeps in `place`."""

    category: str  # one of CATEGORIES
    name: str  # DeepSpeed's attribute (or the paper's symbol)
    nbytes: int
    place: str = "device"  # "device", or "host" where offload keeps it
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class Prediction:
    params_bytes: int
    grads_bytes: int
    master_params_bytes: int
    optimizer_state_bytes: int
    activation_bytes: int
    offloaded_bytes: int  # what offload keeps in host memory instead of the GPU (0 on the CPU)
    buffer_bytes: int = 0  # scratch DeepSpeed allocates that the ledger does not count
    device: str = "cuda"  # the scenario's compute device
    host_bytes: int = 0  # what DeepSpeed places in host memory (offload), on any device
    mode: str = "deepspeed"
    rank: int = 0
    terms: tuple[Term, ...] = ()

    @property
    def model_state_bytes(self) -> int:
        return (self.params_bytes + self.grads_bytes + self.master_params_bytes
                + self.optimizer_state_bytes)

    @property
    def total_bytes(self) -> int:
        return self.model_state_bytes + self.activation_bytes + self.buffer_bytes

    @property
    def device_bytes(self) -> int:
        """What must fit in the compute device's memory. On the CPU (one memory) DeepSpeed's
        scratch buffers are allocated address space (host_mem_cap counts them) but stay
        untouched beyond what a bucket fills: not counted."""
        if self.device == "cpu":
            return self.model_state_bytes + self.activation_bytes
        return self.total_bytes - self.offloaded_bytes

    @property
    def runtime_bytes(self) -> int:
        return runtime_bytes({"device": self.device})

    @property
    def budget_bytes(self) -> int:
        """What counts against a rank's memory budget: on the CPU the cap (RLIMIT_DATA) counts
        allocated address space, so DeepSpeed's scratch buffers count whole, and the runtime's
        own; on a GPU what stays on the device."""
        if self.device == "cpu":
            return self.device_bytes + self.buffer_bytes + self.runtime_bytes
        return self.device_bytes + self.runtime_bytes

    def ledger(self) -> dict[str, int]:
        """The four ledger categories, named as RankMetrics names them."""
        return {"params_bytes": self.params_bytes, "grads_bytes": self.grads_bytes,
                "master_params_bytes": self.master_params_bytes,
                "optimizer_state_bytes": self.optimizer_state_bytes}


# What a rank's runtime adds to its tensors, as host_mem_cap counts it (VmData): Python,
# torch, DeepSpeed, MPI and gloo, the engine, and what the allocator keeps mapped. On the CPU
# it differs by engine, and grows a little with the model: (MiB, bytes per parameter), from
# `memsweep bench-runtime suite/sweeps/capacity.toml --models small
# gpt-L8-d384-h6-ff1536-V32000-S2048` (VmData's peak less the predicted tensor peak, the
# larger rank, at 3.75M and 26.5M parameters; 2 ranks, fp32 AdamW, glibc mapping allocations
# of 1 MiB or more on their own as jobs/oom.py sets it under the cap; torch 2.13 CPU,
# DeepSpeed 0.19.8, this project's 2-core CI machine, 2026-12-03). Measured at 3.75M / 26.5M:
# ZeRO-0 363 / 386 MiB, ZeRO-1 411 / 429, ZeRO-2 408 / 431, ZeRO-3 420 / 462, ZeRO-3 + CPU
# optimizer offload 424 / 462. Other world sizes were not measured.
CPU_RUNTIME = {"zero-0": (359, 1.0),  # DeepSpeed's engine without a ZeRO optimizer
               "zero-1/2": (407, 1.0),  # + ZeRO-1/2's optimizer
               "zero-3": (413, 1.9)}  # + ZeRO-3's parameter coordinator (offload alike)
# Inference and scenarios without a model: DeepSpeed initialised on the CPU, no optimizer.
# A GPU's CUDA context is outside the caching allocator's figures and not counted.
RUNTIME_BYTES = {"cpu": CPU_RUNTIME["zero-0"][0] * 2**20, "cuda": 0}


# The kinds that run a DeepSpeed engine with an optimizer, whose peak suite/peak_model.py
# predicts (distill: a student, next to a frozen teacher the distillation strategy's terms add).
TRAINING_KINDS = ("train", "distill")


def runtime_bytes(values: dict, n_params: int = 0) -> int:
    """The runtime term of a rank on the scenario's device for a model of `n_params`
    parameters (a named, measured term; 0 parameters: what the runtime alone takes)."""
    if str(values["device"]) != "cpu" or values.get("kind", "train") not in TRAINING_KINDS \
            or "zero_stage" not in values:
        return RUNTIME_BYTES.get(str(values["device"]), 0)
    engine = {0: "zero-0", 1: "zero-1/2", 2: "zero-1/2"}.get(int(values["zero_stage"]), "zero-3")
    mib, per_param = CPU_RUNTIME[engine]
    return mib * 2**20 + round(per_param * n_params)


_FIELDS = {"params": "params_bytes", "grads": "grads_bytes",
           "master_params": "master_params_bytes", "optimizer_state": "optimizer_state_bytes"}


def add_term(prediction: Prediction, values: dict, *, category: str, name: str, nbytes: int,
             place: str = "device", note: str = "") -> Prediction:
    """`prediction` with one more named term (may be < 0)."""
    field = _FIELDS[category]
    term = Term(category=category, name=name, nbytes=int(nbytes), place=place, note=note)
    changes = {field: getattr(prediction, field) + int(nbytes),
               "terms": (*prediction.terms, term)}
    if place == "host":
        changes["host_bytes"] = prediction.host_bytes + int(nbytes)
        if values["device"] != "cpu":  # on the CPU host memory is the device's
            changes["offloaded_bytes"] = prediction.offloaded_bytes + int(nbytes)
    return replace(prediction, **changes)
