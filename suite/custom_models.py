"""Models that are not catalogue entries: a Hugging Face `config.json` (`model =
"config:path/config.json"`) or a sweep's own `[models.NAME]` table, both read as data.

Either resolves to the model value that spells out its dimensions (suite/models.py
`encode`), which is what the scenario holds.
"""

from __future__ import annotations

import json
from pathlib import Path

from suite.errors import UserInputError
from suite.models import ModelSpec, decode, encode

_HF_FAMILY = {"llama": "llama", "mistral": "llama", "qwen2": "llama", "gpt2": "gpt"}


def from_table(name: str, table: object, *, source: str) -> ModelSpec:
    """A sweep's `[models.NAME]` table: family and dimensions, as ModelSpec's field names."""
    key = f"models.{name}"
    fields = {"family", "n_layer", "d_model", "n_head", "n_kv_head", "d_ff", "vocab_size",
              "max_seq_len", "tied", "qkv_bias", "rope_theta"}
    fix = ('e.g. [models.mine] family = "llama", n_layer = 4, d_model = 256, n_head = 8, '
           'n_kv_head = 4, d_ff = 704, vocab_size = 2048, max_seq_len = 256')
    if not isinstance(table, dict):
        raise UserInputError("must be a table", source=source, key=key, fix=fix)
    for k in table:
        if k not in fields:
            raise UserInputError("unknown key", source=source, key=f"{key}.{k}",
                                 fix=f"known keys: {', '.join(sorted(fields))}")
    for k in ("family", "n_layer", "d_model", "n_head", "vocab_size", "max_seq_len"):
        if k not in table:
            raise UserInputError("missing", source=source, key=f"{key}.{k}", fix=fix)
    return _spec(name, dict(table), source=source, key=key)


def from_hf_config(path: Path, *, source: str, key: str = "model") -> ModelSpec:
    """A Hugging Face config.json of the Llama, Mistral, Qwen2 or GPT-2 family (plain JSON)."""
    where = f"{key} (config:{path})"
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise UserInputError(f"cannot read {path}: {e.strerror or e}", source=source, key=key,
                             fix="give the path of a config.json, relative to the sweep file"
                             ) from None
    except ValueError as e:
        raise UserInputError(f"{path} is not valid JSON: {e}", source=source, key=key,
                             fix="check the line and column named above") from None
    if not isinstance(data, dict):
        raise UserInputError(f"{path} is not a JSON object", source=source, key=key)
    kind = data.get("model_type")
    if kind not in _HF_FAMILY:
        raise UserInputError(f"model_type {kind!r} is not supported", source=str(path),
                             key="model_type",
                             fix=f"memsweep reads {', '.join(sorted(_HF_FAMILY))} configs")

    def field(name: str, default: object = ...) -> object:
        if name in data and data[name] is not None:
            return data[name]
        if default is ...:
            raise UserInputError("missing", source=str(path), key=name,
                                 fix=f"a {kind} config.json has {name!r}")
        return default

    if kind == "gpt2":
        d = field("n_embd")
        dims = dict(family="gpt", n_layer=field("n_layer"), d_model=d, n_head=field("n_head"),
                    d_ff=field("n_inner", 4 * d) if isinstance(d, int) else 0,
                    vocab_size=field("vocab_size"), max_seq_len=field("n_positions"))
    else:
        heads, d = field("num_attention_heads"), field("hidden_size")
        if isinstance(d, int) and isinstance(heads, int) and heads and \
                field("head_dim", d // heads) != d // heads:
            raise UserInputError("head_dim differs from hidden_size / num_attention_heads",
                                 source=str(path), key="head_dim",
                                 fix="memsweep's llama block has head_dim = hidden / heads")
        dims = dict(family="llama", n_layer=field("num_hidden_layers"), d_model=d,
                    n_head=heads, n_kv_head=field("num_key_value_heads", heads),
                    d_ff=field("intermediate_size"), vocab_size=field("vocab_size"),
                    max_seq_len=field("max_position_embeddings"),
                    tied=field("tie_word_embeddings", False),
                    qkv_bias=field("attention_bias", kind == "qwen2"),
                    rope_theta=field("rope_theta", 10000.0))
    return _spec(Path(path).parent.name or "config", dims, source=str(path), key=where)


def _spec(name: str, dims: dict, *, source: str, key: str) -> ModelSpec:
    for k, v in dims.items():
        want = {"family": str, "tied": bool, "qkv_bias": bool, "rope_theta": (int, float)}.get(
            k, int)
        if not isinstance(v, want) or (want is int and isinstance(v, bool)):
            raise UserInputError(f"{k} must be {getattr(want, '__name__', 'a number')}, "
                                 f"got {v!r}", source=source, key=f"{key}.{k}")
    if dims.get("rope_theta") is not None:
        dims["rope_theta"] = float(dims["rope_theta"])
    try:
        spec = ModelSpec(name=name, scale="custom", **dims)
    except (ValueError, TypeError) as e:
        raise UserInputError(str(e), source=source, key=key,
                             fix="dimensions must divide as the message says") from None
    return decode(encode(spec)) or spec
