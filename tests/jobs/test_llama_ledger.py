"""The Llama family through real DeepSpeed: the at-rest ledger is the prediction, exactly.

llama-tiny (grouped-query attention, untied head) at ZeRO 0-3, and a Qwen2-shaped model
(q/k/v biases, tied head) read from a config.json, on 2 ranks; and ZeRO-2/3 on 3 ranks,
where partitions need padding. Run in test_prediction.py's two MPI launches (ledger_batches.py).
"""

from __future__ import annotations

import pytest
from ledger_batches import LEDGER

pytestmark = pytest.mark.slow


def test_llama_ledger_is_the_prediction_exactly(ledger_runs):
    # ledger_batches.llama_two's records (2 ranks), then LLAMA_THREE's (3 ranks)
    records = ledger_runs["llama"]
    assert len(records) == 7
    for record in records:
        assert record.status == "ok"
        for k in record.ranks:
            for f in LEDGER:
                assert getattr(k, f) == getattr(k.predicted, f), \
                    (record.scenario["params"]["model"], f, k.rank)
    # The same data and seed: every ZeRO stage ends at stage 0's loss (fp32).
    losses = [r.measurements.final_loss for r in records[:4]]
    assert all(abs(x - losses[0]) <= 1e-5 * losses[0] for x in losses), losses
