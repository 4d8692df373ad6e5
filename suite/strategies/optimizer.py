"""Optimizer choice: how many bytes of state each parameter carries.

    sgd           plain SGD, no state
    sgd-momentum  one fp32 momentum buffer: 4 B/param
    adamw         fp32 exp_avg and exp_avg_sq: 8 B/param
    adafactor     torch.optim.Adafactor: factored second moment (a row and a column vector
                  per matrix) -- only where it sees the matrices: ZeRO 1-3 and DeepSpeed's
                  16-bit optimizers hand it flat 1-D partitions, and it keeps 4 B/param
    adamw8bit     bitsandbytes' AdamW8bit: two uint8 states + a block-wise absmax, ~2 B/param
                  (a client optimizer: DeepSpeed's config cannot name it); a tensor under
                  4096 elements keeps two fp32 states instead
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from suite.models import model_spec
from suite.prediction import add_term
from suite.resolved import Resolved
from suite.strategies.hardware import supports
from suite.strategy_spec import Axis, Rule, Strategy
from suite.zero3_sub_groups import partitions

LEARNING_RATE = 1e-4
ADAMW = {"lr": LEARNING_RATE, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01}
NAMES = ("adamw", "sgd", "sgd-momentum", "adafactor", "adamw8bit")
BNB_BLOCK = 256  # bitsandbytes' blockwise 8-bit states: one fp32 absmax per 256 values each
BNB_MIN_8BIT = 4096  # bitsandbytes' min_8bit_size: smaller tensors keep 32-bit states
BNB_QMAPS = 2 * 256 * 4  # its two quantization maps (signed, unsigned), fp32, one per optimizer


def configure(values: dict, config: dict) -> dict:
    name, stage = values["optimizer"], values["zero_stage"]
    offload = values["offload_optimizer"] != "none"
    fragment: dict = {"optimizer": _section(name, offload=offload, device=values["device"])}
    if name != "adamw" and stage > 0:
        # ZeRO asserts unless told: only DeepSpeed's own Adam-family optimizers are "tested".
        # Others step this rank's fp32 partition like any torch optimizer (on the host under
        # offload).
        fragment["zero_allow_untested_optimizer"] = True
    return fragment


def _section(name: str, *, offload: bool, device: str) -> dict | None:
    if name == "sgd":  # the "no optimizer state" end of the axis
        return {"type": "SGD", "params": {"lr": LEARNING_RATE, "momentum": 0.0}}
    if name == "sgd-momentum":
        return {"type": "SGD", "params": {"lr": LEARNING_RATE, "momentum": 0.9}}
    if name == "adafactor":  # DeepSpeed builds torch.optim.<type> for a type it does not know
        return {"type": "Adafactor", "params": {"lr": LEARNING_RATE}}
    if name == "adamw8bit":
        return None  # a client optimizer (`client_optimizer`); None removes a base's section
    params = dict(ADAMW)
    if device == "cpu" and not offload:
        # DeepSpeed's FusedAdam would JIT-compile a CPU kernel inside the first run; torch's
        # AdamW keeps the same states (fp32 exp_avg, exp_avg_sq) without that. Under offload
        # DeepSpeed picks its prebuilt DeepSpeedCPUAdam itself; on GPU its FusedAdam.
        params["torch_adam"] = True
    return {"type": "AdamW", "params": params}


def client_optimizer(run: Resolved) -> Callable[[Iterable], Any] | None:
    """A factory params -> optimizer for the optimizers DeepSpeed's config cannot name."""
    if run["optimizer"] != "adamw8bit":
        return None

    def build(params):
        try:
            import bitsandbytes as bnb  # heavy: loaded late, when the optimizer is built
        except ImportError as e:
            raise RuntimeError("optimizer adamw8bit needs bitsandbytes: pip install "
                               "'bitsandbytes>=0.50'") from e
        return bnb.optim.AdamW8bit(params, lr=ADAMW["lr"], betas=tuple(ADAMW["betas"]),
                                   eps=ADAMW["eps"], weight_decay=ADAMW["weight_decay"])

    return build


def state_bytes(values: dict) -> float:
    """Optimizer-state bytes of the whole model (before ZeRO shards them), for the optimizers
    the core model (suite/memory_model.py) does not know; adamw and sgd are in its table."""
    spec, name = model_spec(values["model"]), values["optimizer"]
    if name == "adafactor" and values["zero_stage"] == 0 and values["precision"] == "fp32":
        matrices = spec.matrices()  # torch's Adafactor: row + column vectors per matrix
        vectors = spec.n_params - sum(r * c for r, c in matrices)  # biases, norms: full
        return 4 * (sum(r + c for r, c in matrices) + vectors)
    per_param = {"sgd-momentum": 4, "adafactor": 4, "adamw8bit": 2 + 2 * 4 / BNB_BLOCK}
    return per_param.get(name, 0) * spec.n_params


def adamw8bit_bytes(sizes: list[int]) -> int:
    """bitsandbytes 0.50's AdamW8bit states for the tensors it steps (Optimizer2State.init_state):
    two uint8 states and two fp32 absmax per 256-element block, or two fp32 states for a
    tensor under min_8bit_size; the quantization maps once if any tensor is 8-bit."""
    small = sum(n for n in sizes if n < BNB_MIN_8BIT)
    large = [n for n in sizes if n >= BNB_MIN_8BIT]
    blocks = sum(-(-n // BNB_BLOCK) for n in large)
    return 8 * small + 2 * sum(large) + 2 * 4 * blocks + (BNB_QMAPS if large else 0)


def stepped_sizes(values: dict) -> list[int]:
    """The tensors the optimizer steps on a rank: the parameters at ZeRO-0, this rank's flat
    partition at ZeRO-1/2 (padded to 2·N elements, as suite/memory_model.py pads it) and at
    ZeRO-3 (each parameter padded to N)."""
    sizes, n = model_spec(values["model"]).parameter_sizes(), int(values["world_size"])
    if values["zero_stage"] == 0:
        return sizes
    if values["zero_stage"] in (1, 2):
        return [-(-sum(sizes) // (2 * n)) * 2]
    return [sum(partitions(sizes, n))]


def memory_term(values: dict, p):
    shards = values["world_size"] if values["zero_stage"] >= 1 else 1
    offload = values["offload_optimizer"] != "none"
    nbytes = int(state_bytes(values) / shards)
    whole = values.get("tensor_parallel", 1) == values.get("pipeline_stages", 1) == 1
    if values["optimizer"] == "adamw8bit" and whole:  # (a model-parallel rank's share: ~)
        nbytes = adamw8bit_bytes(stepped_sizes(values))
    return add_term(p, values, category="optimizer_state", name=f"{values['optimizer']} states",
                    nbytes=nbytes, place="host" if offload else "device",
                    note="suite/strategies/optimizer.py")


STRATEGY = Strategy(
    name="optimizer",
    description="SGD, SGD+momentum, AdamW, Adafactor (factored states), 8-bit AdamW "
                "(bitsandbytes): 0 to 8 bytes of state per parameter",
    axes=(Axis(name="optimizer", type=str, default="adamw", choices=NAMES,
               help="optimizer: AdamW 8 B/param of state, SGD none, SGD+momentum 4, Adafactor "
                    "factored, adamw8bit ~2"),),
    rules=(Rule(name="8bit-optimizer-needs-device-support",
                reason="bitsandbytes' 8-bit optimizers run only on devices it has kernels for",
                excludes=lambda v: v["optimizer"] == "adamw8bit"
                and not supports(v["device"], "8bit-optimizer")),),
    kinds=("train", "distill"),
    configure=configure,
    optimizer=client_optimizer,
    memory_term=memory_term,
)
