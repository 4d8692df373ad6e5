"""The ledger tests' real runs, made once per session in two MPI launches (2 and 3 ranks).

tests/jobs/test_prediction.py (the ZeRO grid, padding on 3 ranks, odd-sized toy modules) and
tests/jobs/test_llama_ledger.py (the Llama family) run their scenarios in the same launches:
each launch starts DeepSpeed and gloo once (seconds on this CPU), and every scenario sets its
own seed, so a scenario's ledger and loss do not depend on what else the launch runs.
conftest.py's `ledger_runs` fixture calls `run`.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

from results.schema import RunRecord
from suite import custom_models
from suite.models import encode

REPO = Path(__file__).resolve().parents[2]
MPIEXEC = Path(sys.executable).with_name("mpiexec")
LEDGER = ("params_bytes", "grads_bytes", "master_params_bytes", "optimizer_state_bytes")
SMALL = {"model": "tiny", "micro_batch": 2, "seq_len": 16}


def grid() -> list[dict]:
    # Each stage x offload x optimizer x precision once; AdamW without accumulation, SGD with
    # it, so that each stage and offload is seen both ways.
    out = []
    for stage, offload, optimizer, precision in itertools.product(
            (0, 1, 2, 3), ("none", "cpu"), ("adamw", "sgd"), ("fp32", "bf16")):
        if stage == 0 and offload != "none":
            continue  # offload needs ZeRO (catalogue rule)
        out.append({**SMALL, "zero_stage": stage, "offload_optimizer": offload,
                    "optimizer": optimizer, "precision": precision,
                    "grad_accum": 1 if optimizer == "adamw" else 2})
    return out


PADDED = [{**SMALL, "zero_stage": 3, "precision": "bf16"},
          {**SMALL, "zero_stage": 2, "grad_accum": 2}]
TOYS = [{"values": {**SMALL, "zero_stage": s, "grad_accum": 2}, "sizes": [7, 3, 11, 5]}
        for s in (1, 2, 3)]
# A Qwen2-shaped model (q/k/v biases, tied head), read from a config.json.
QWEN = {"model_type": "qwen2", "hidden_size": 96, "num_hidden_layers": 2,
        "num_attention_heads": 6, "num_key_value_heads": 2, "intermediate_size": 160,
        "vocab_size": 512, "max_position_embeddings": 128, "tie_word_embeddings": True}
LLAMA = {**SMALL, "model": "llama-tiny"}
LLAMA_THREE = [{**LLAMA, "zero_stage": 3}, {**LLAMA, "zero_stage": 2, "grad_accum": 2}]


def llama_two(tmp: Path) -> list[dict]:
    """llama-tiny at ZeRO 0-3, then the Qwen2-shaped model at ZeRO-3 in bf16."""
    (tmp / "config.json").write_text(json.dumps(QWEN))
    qwen = encode(custom_models.from_hf_config(tmp / "config.json", source="test"))
    return [{**LLAMA, "zero_stage": s} for s in (0, 1, 2, 3)] + \
        [{**LLAMA, "model": qwen, "zero_stage": 3, "precision": "bf16"}]


def batch(tmp: Path, ranks: int, entries: list[dict], *, timeout: int = 900) -> list[dict]:
    """Rank 0's output of each of `entries` (batch_runs.py's), in their order, from one MPI
    launch of `ranks` ranks."""
    spec = tmp / f"batch-{ranks}.json"
    spec.write_text(json.dumps(entries))
    done = subprocess.run([str(MPIEXEC), "-n", str(ranks), sys.executable,
                           str(REPO / "tests" / "jobs" / "batch_runs.py"), str(spec)],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-4000:]
    found = [json.loads(x[6:]) for x in done.stdout.splitlines() if x.startswith("BATCH ")]
    assert len(found) == len(entries)
    return found


def run(tmp: Path) -> dict:
    """{"two": grid's records, "three": PADDED's, "toys": TOYS' ledgers, "llama": the Llama
    records (llama_two's, then LLAMA_THREE's)}, each list in its scenarios' order."""
    grid_values, llama = grid(), llama_two(tmp)
    two = batch(tmp, 2, [{"values": v} for v in grid_values + llama])
    three = batch(tmp, 3, [{"values": v} for v in PADDED] + TOYS
                  + [{"values": v} for v in LLAMA_THREE])
    records = [RunRecord.from_json(r) for r in two]
    toys_end = len(PADDED) + len(TOYS)
    return {"two": records[:len(grid_values)],
            "three": [RunRecord.from_json(r) for r in three[:len(PADDED)]],
            "toys": three[len(PADDED):toys_end],
            "llama": records[len(grid_values):]
            + [RunRecord.from_json(r) for r in three[toys_end:]]}
