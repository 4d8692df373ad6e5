"""The Llama family through real DeepSpeed: the at-rest ledger is the prediction, exactly.

llama-tiny (grouped-query attention, untied head) at ZeRO 0-3, and a Qwen2-shaped model
(q/k/v biases, tied head) read from a config.json, on 2 ranks in one MPI launch; and
ZeRO-3 on 3 ranks, where partitions need padding.
"""

from __future__ import annotations

import json

import pytest
from test_prediction import LEDGER, SMALL, batch

from results.schema import RunRecord
from suite import custom_models
from suite.models import encode

pytestmark = pytest.mark.slow

QWEN = {"model_type": "qwen2", "hidden_size": 96, "num_hidden_layers": 2,
        "num_attention_heads": 6, "num_key_value_heads": 2, "intermediate_size": 160,
        "vocab_size": 512, "max_position_embeddings": 128, "tie_word_embeddings": True}


def test_llama_ledger_is_the_prediction_exactly(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(QWEN))
    qwen = encode(custom_models.from_hf_config(tmp_path / "config.json", source="test"))
    base = {**SMALL, "model": "llama-tiny"}
    two = [{**base, "zero_stage": s} for s in (0, 1, 2, 3)] + \
          [{**base, "model": qwen, "zero_stage": 3, "precision": "bf16"}]
    three = [{**base, "zero_stage": 3}, {**base, "zero_stage": 2, "grad_accum": 2}]
    records = [RunRecord.from_json(r) for r in batch(tmp_path, 2, [{"values": v} for v in two])]
    records += [RunRecord.from_json(r)
                for r in batch(tmp_path, 3, [{"values": v} for v in three])]
    for record in records:
        assert record.status == "ok"
        for k in record.ranks:
            for f in LEDGER:
                assert getattr(k, f) == getattr(k.predicted, f), \
                    (record.scenario["params"]["model"], f, k.rank)
    # The same data and seed: every ZeRO stage ends at stage 0's loss (fp32).
    losses = [r.measurements.final_loss for r in records[:4]]
    assert all(abs(x - losses[0]) <= 1e-5 * losses[0] for x in losses), losses
