"""The model catalogue: two decoder families (our own torch code) and their named sizes.

GPT sizes follow the GPT-3 paper's table (Brown et al. 2020, Table 2.1); Llama sizes
are the published Llama-2 and Llama-3.1 configurations; the CPU sizes of each family
are small enough for tests and the demo on a 2-core machine. `ModelSpec.n_params` is
exact for the built module; a test checks it for every size, on the meta device.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from suite.errors import UserInputError

FAMILIES = ("gpt", "llama")


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """One decoder's dimensions. `family` decides the block: "gpt" (pre-LayerNorm with biases,
    GELU MLP, learned positions, tied embeddings: suite/gpt.py) or "llama" (RMSNorm, SwiGLU,
    rotary positions, grouped-query attention, untied embeddings: suite/llama.py)."""

    name: str
    n_layer: int
    d_model: int
    n_head: int
    vocab_size: int
    max_seq_len: int
    scale: str  # "cpu" or "cluster": which machines the size is meant for
    family: str = "gpt"
    n_kv_head: int = 0  # key/value heads (grouped-query attention); 0: as many as n_head
    d_ff: int = 0  # MLP width; 0: 4 * d_model (GPT's)
    tied: bool | None = None  # output head shares the input embedding; None: the family's way
    qkv_bias: bool = False  # llama family: biases on q/k/v (Qwen2); GPT has every bias
    rope_theta: float = 10000.0  # llama family: rotary base

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"model {self.name}: family {self.family!r} is not one of "
                             f"{', '.join(FAMILIES)}")
        for key in ("n_layer", "d_model", "n_head", "vocab_size", "max_seq_len"):
            if getattr(self, key) < 1:
                raise ValueError(f"model {self.name}: {key} must be at least 1")
        if self.d_model % self.n_head:
            raise ValueError(f"model {self.name}: d_model {self.d_model} not divisible by n_head")
        if self.n_head % self.kv_heads:
            raise ValueError(f"model {self.name}: n_head {self.n_head} not divisible by "
                             f"n_kv_head {self.kv_heads}")
        if self.family == "gpt" and (self.kv_heads != self.n_head or not self.ties
                                     or self.qkv_bias):
            raise ValueError(f"model {self.name}: the gpt family has tied embeddings, every "
                             "bias and no grouped-query attention")

    @property
    def kv_heads(self) -> int:
        return self.n_kv_head or self.n_head

    @property
    def ffn(self) -> int:
        return self.d_ff or 4 * self.d_model

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def ties(self) -> bool:
        return self.family == "gpt" if self.tied is None else self.tied

    def parameter_sizes(self, tp: int = 1) -> list[int]:
        """Element counts of the parameters in `module.parameters()` order (suite/gpt.py,
        suite/llama.py): DeepSpeed flattens them in this order, so it decides partition cuts.
        `tp`: one tensor-parallel rank's share (llama family: AutoTP splits q/k/v, gate and
        up by output, o and down by input; embeddings, norms and the head stay whole)."""
        d, V = self.d_model, self.vocab_size
        block = self.block_sizes(tp)
        if self.family == "gpt":
            return [V * d, self.max_seq_len * d, *block * self.n_layer, d, d]
        head = [] if self.ties else [V * d]
        return [V * d, *block * self.n_layer, d, *head]

    def block_sizes(self, tp: int = 1) -> list[int]:
        """Element counts of one transformer block's parameters, in module order."""
        d, f = self.d_model, self.ffn
        if self.family == "gpt":
            if tp != 1:
                raise ValueError(f"model {self.name}: tensor parallelism needs the llama family")
            # ln1 (w, b), qkv (w, b), proj (w, b), ln2 (w, b), fc (w, b), out (w, b)
            return [d, d, 3 * d * d, 3 * d, d * d, d, d, d, f * d, f, d * f, d]
        kv = self.kv_heads * self.head_dim
        bias = self.qkv_bias
        # input norm; q, k, v (+ biases), o; post-attention norm; gate, up, down
        return [d, d * d // tp, *([d // tp] if bias else []), kv * d // tp,
                *([kv // tp] if bias else []), kv * d // tp, *([kv // tp] if bias else []),
                d * d // tp, d, f * d // tp, f * d // tp, d * f // tp]

    def linear_shapes(self) -> list[tuple[int, int]]:
        """(out, in) of every weight matrix of one block, in module order."""
        d, f, kv = self.d_model, self.ffn, self.kv_heads * self.head_dim
        if self.family == "gpt":
            return [(3 * d, d), (d, d), (f, d), (d, f)]
        return [(d, d), (kv, d), (kv, d), (d, d), (f, d), (f, d), (d, f)]

    def matrices(self) -> list[tuple[int, int]]:
        """Every 2-D parameter's shape: embeddings, block weights, an untied output head."""
        V, d = self.vocab_size, self.d_model
        embeddings = [(V, d), (self.max_seq_len, d)] if self.family == "gpt" else [(V, d)]
        head = [] if self.ties else [(V, d)]
        return embeddings + self.linear_shapes() * self.n_layer + head

    @property
    def n_params(self) -> int:
        return sum(self.parameter_sizes())


def _spec(name: str, scale: str, L: int, d: int, h: int, V: int = 50257,
          S: int = 2048) -> ModelSpec:
    return ModelSpec(name=name, n_layer=L, d_model=d, n_head=h, vocab_size=V, max_seq_len=S,
                     scale=scale)


def _llama(name: str, scale: str, L: int, d: int, h: int, kv: int, ff: int, V: int, S: int,
           theta: float = 10000.0) -> ModelSpec:
    return ModelSpec(name=name, family="llama", n_layer=L, d_model=d, n_head=h, n_kv_head=kv,
                     d_ff=ff, vocab_size=V, max_seq_len=S, scale=scale, rope_theta=theta)


MODELS: dict[str, ModelSpec] = {
    m.name: m
    for m in (
        _spec("tiny", "cpu", 2, 128, 4, V=1024, S=256),
        _spec("small", "cpu", 4, 256, 8, V=2048, S=256),
        _spec("base", "cpu", 6, 384, 6, V=4096, S=512),
        _spec("125m", "cluster", 12, 768, 12),
        _spec("350m", "cluster", 24, 1024, 16),
        _spec("760m", "cluster", 24, 1536, 16),
        _spec("1.3b", "cluster", 24, 2048, 16),
        _spec("2.7b", "cluster", 32, 2560, 32),
        _spec("6.7b", "cluster", 32, 4096, 32),
        _spec("13b", "cluster", 40, 5120, 40),
        _spec("175b", "cluster", 96, 12288, 96),  # GPT-3 (Brown et al. 2020, Table 2.1)
        # Llama family: CPU-scale members (grouped-query attention kept: 2 heads per kv head).
        _llama("llama-tiny", "cpu", 2, 128, 4, 2, 352, V=1024, S=256),
        _llama("llama-small", "cpu", 4, 256, 8, 4, 704, V=2048, S=256),
        _llama("llama-base", "cpu", 6, 384, 6, 2, 1024, V=4096, S=512),
        # The published configurations (their Hugging Face config.json files).
        _llama("llama2-7b", "cluster", 32, 4096, 32, 32, 11008, V=32000, S=4096),
        _llama("llama2-13b", "cluster", 40, 5120, 40, 40, 13824, V=32000, S=4096),
        _llama("llama2-70b", "cluster", 80, 8192, 64, 8, 28672, V=32000, S=4096),
        _llama("llama3.1-8b", "cluster", 32, 4096, 32, 8, 14336, V=128256, S=131072,
               theta=500000.0),
        _llama("llama3.1-70b", "cluster", 80, 8192, 64, 8, 28672, V=128256, S=131072,
               theta=500000.0),
        _llama("llama3.1-405b", "cluster", 126, 16384, 128, 8, 53248, V=128256, S=131072,
               theta=500000.0),
    )
}


def model_spec(name: str) -> ModelSpec:
    """A catalogue entry, or the model a spelled-out value describes (`encode`)."""
    if name in MODELS:
        return MODELS[name]
    if spec := decode(name):
        return spec
    raise UserInputError(
        f"unknown model size {name!r}", key="model",
        fix=f"use one of: {', '.join(MODELS)}; or \"config:path/config.json\"; or a name "
            "defined in the sweep's [models.NAME] table")


# Models outside the catalogue are held by scenarios as a value spelling out every dimension
# that changes the module, e.g. llama-L32-d4096-h32-kv8-ff14336-V128256-S131072-rope500000:
# the run_id then depends on the dimensions (never on a config file's path), and workers and
# plan files need nothing but the value. Only [A-Za-z0-9-]: safe in any path or shell.
_PART = re.compile(r"(L|d|h|kv|ff|V|S|rope)(\d+)|(tied|qkvb)")


def encode(spec: ModelSpec) -> str:
    """The model value spelling out `spec`'s dimensions (every field that changes the module)."""
    parts = [spec.family, f"L{spec.n_layer}", f"d{spec.d_model}", f"h{spec.n_head}"]
    if spec.kv_heads != spec.n_head:
        parts.append(f"kv{spec.kv_heads}")
    parts += [f"ff{spec.ffn}", f"V{spec.vocab_size}", f"S{spec.max_seq_len}"]
    if spec.family == "llama":
        if spec.ties:
            parts.append("tied")
        if spec.qkv_bias:
            parts.append("qkvb")
        if spec.rope_theta != 10000.0:
            parts.append(f"rope{int(spec.rope_theta)}")
    return "-".join(parts)


def decode(value: str) -> ModelSpec | None:
    """The ModelSpec a value from `encode` spells, or None if `value` is not one."""
    family, _, rest = value.partition("-")
    if family not in FAMILIES or not rest:
        return None
    dims: dict[str, object] = {}
    for part in rest.split("-"):
        m = _PART.fullmatch(part)
        if not m:
            return None
        if m.group(3):
            dims[m.group(3)] = True
        else:
            dims[m.group(1)] = int(m.group(2))
    if not {"L", "d", "h", "ff", "V", "S"} <= dims.keys():
        return None
    try:
        return ModelSpec(name=value, family=family, n_layer=dims["L"], d_model=dims["d"],
                         n_head=dims["h"], n_kv_head=dims.get("kv", 0), d_ff=dims["ff"],
                         vocab_size=dims["V"], max_seq_len=dims["S"], scale="custom",
                         tied=True if family == "gpt" else bool(dims.get("tied")),
                         qkv_bias=bool(dims.get("qkvb")),
                         rope_theta=float(dims.get("rope", 10000)))
    except ValueError:
        return None



def flops_per_token(spec: ModelSpec, seq_len: int) -> float:
    """Training FLOPs per token: 6N + 12·L·h·s (Kaplan et al.; recompute not counted). With
    grouped-query attention the score and value products are still per query head: same term."""
    return 6 * spec.n_params + 12 * spec.n_layer * spec.d_model * seq_len


def human_count(n: int) -> str:
    if n <= 0:
        return "0"
    exp = min(int(math.log10(n)) // 3, 4)
    return f"{n / 10 ** (3 * exp):.3g}{['', 'k', 'M', 'B', 'T'][exp]}"
