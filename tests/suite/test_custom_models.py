"""Models outside the catalogue: Hugging Face config.json files and a sweep's [models.NAME]."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memsweep.cli import main
from suite import custom_models
from suite.errors import UserInputError
from suite.models import MODELS, decode, encode, model_spec
from suite.sweep import load_sweep
from suite.torch_tools import build_model

TINY_LLAMA = MODELS["llama-tiny"]
CONFIGS = {
    "llama": {"model_type": "llama", "hidden_size": 128, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 352,
              "vocab_size": 1024, "max_position_embeddings": 256, "rms_norm_eps": 1e-5,
              "tie_word_embeddings": False, "rope_theta": 10000.0},
    "mistral": {"model_type": "mistral", "hidden_size": 128, "num_hidden_layers": 2,
                "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 352,
                "vocab_size": 1024, "max_position_embeddings": 256, "sliding_window": 4096},
    "qwen2": {"model_type": "qwen2", "hidden_size": 128, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 352,
              "vocab_size": 1024, "max_position_embeddings": 256, "tie_word_embeddings": True,
              "rope_theta": 1000000.0},
    "gpt2": {"model_type": "gpt2", "n_embd": 128, "n_layer": 2, "n_head": 4,
             "vocab_size": 1024, "n_positions": 256, "n_inner": None},
}


def write(folder: Path, data: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(data))
    return folder / "config.json"


def shapes(spec) -> list[tuple[str, tuple[int, ...]]]:
    return [(n, tuple(p.shape)) for n, p in build_model(spec, device="meta").named_parameters()]


@pytest.mark.parametrize("family", list(CONFIGS))
def test_a_config_builds_the_catalogue_module_of_the_same_dimensions(tmp_path, family):
    spec = custom_models.from_hf_config(write(tmp_path, CONFIGS[family]), source="test")
    twin = {"llama": TINY_LLAMA, "mistral": TINY_LLAMA, "gpt2": MODELS["tiny"]}.get(family)
    if twin is not None:
        assert shapes(spec) == shapes(twin)
        assert spec.n_params == twin.n_params
    else:  # qwen2: llama-tiny's dimensions plus q/k/v biases, tied head
        assert spec.qkv_bias and spec.ties and spec.rope_theta == 1e6
        assert spec.n_params == TINY_LLAMA.n_params - 1024 * 128 + 2 * (128 + 64 + 64)
    assert sum(p.numel() for p in build_model(spec, device="meta").parameters()) == \
        spec.n_params
    assert decode(encode(spec)) == spec and model_spec(encode(spec)) == spec


def test_a_sweep_names_configs_and_its_own_models(tmp_path):
    write(tmp_path / "a", CONFIGS["llama"])
    write(tmp_path / "b", CONFIGS["llama"])  # the same model under another path
    (tmp_path / "s.toml").write_text("""
[sweep]
name = "custom"
[axes]
model = ["config:a/config.json", "mine"]
[models.mine]
family = "llama"
n_layer = 2
d_model = 64
n_head = 4
n_kv_head = 1
d_ff = 160
vocab_size = 512
max_seq_len = 128
""")
    sweep = load_sweep(tmp_path / "s.toml")
    models = [s["model"] for s in sweep.scenarios]
    assert models == [encode(TINY_LLAMA), "llama-L2-d64-h4-kv1-ff160-V512-S128"]
    other = (tmp_path / "s.toml").read_text().replace("config:a/", "config:b/")
    (tmp_path / "t.toml").write_text(other)
    # The run_id holds the dimensions, not the path.
    assert [s.run_id for s in load_sweep(tmp_path / "t.toml").scenarios] == \
        [s.run_id for s in sweep.scenarios]


@pytest.mark.parametrize("drop", ["hidden_size", "num_hidden_layers", "intermediate_size",
                                  "vocab_size"])
def test_a_config_missing_a_field_exits_2_naming_it(tmp_path, capsys, drop):
    write(tmp_path / "m", {k: v for k, v in CONFIGS["llama"].items() if k != drop})
    (tmp_path / "s.toml").write_text('[sweep]\nname = "x"\n[axes]\n'
                                     'model = "config:m/config.json"\n')
    assert main(["plan", str(tmp_path / "s.toml")]) == 2
    err = capsys.readouterr().err
    assert drop in err and "config.json" in err


def test_an_unknown_model_type_exits_2(tmp_path, capsys):
    write(tmp_path / "m", {**CONFIGS["llama"], "model_type": "mamba"})
    (tmp_path / "s.toml").write_text('[sweep]\nname = "x"\n[axes]\n'
                                     'model = "config:m/config.json"\n')
    assert main(["plan", str(tmp_path / "s.toml")]) == 2
    assert "model_type 'mamba' is not supported" in capsys.readouterr().err


def test_wrong_types_and_bad_tables_name_the_key():
    with pytest.raises(UserInputError, match="n_layer"):
        custom_models.from_table("m", {"family": "llama", "n_layer": "2", "d_model": 64,
                                       "n_head": 4, "vocab_size": 8, "max_seq_len": 8},
                                 source="s.toml")
    with pytest.raises(UserInputError, match="models.m.width"):
        custom_models.from_table("m", {"family": "llama", "width": 3}, source="s.toml")
    with pytest.raises(UserInputError, match="divisible"):
        custom_models.from_table("m", {"family": "llama", "n_layer": 2, "d_model": 64,
                                       "n_head": 4, "n_kv_head": 3, "d_ff": 8,
                                       "vocab_size": 8, "max_seq_len": 8}, source="s.toml")


def test_values_that_are_not_models_are_refused():
    for value in ("llama", "llama-L2", "gpt-L2-d10-h3-ff4-V8-S8", "llama-L2-d8-h2-ff8-V8-S8-x"):
        assert decode(value) is None
