"""The real runs of the parallelism tests (test_pipeline.py, test_sequence_parallel.py,
test_tensor_parallel.py), made once per session: one MPI launch per world size
(tests/jobs/batch_runs.py), not one per run (DeepSpeed and gloo start once: ~4 s a run on this
CPU, 13 runs). A run the sweeps share (llama-tiny on one rank) runs once. Every scenario sets
its own seed and clears the mpu an earlier engine left (tests/jobs/test_peak_prediction.py
batches these strategies too), so its loss and ledger do not depend on the launch. Each
sweep's records are written to its own folder with the store's write_record, as the worker
writes them; conftest.py's `parallel_runs` fixture calls `run`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import tomllib

from results.schema import RunRecord
from results.store import write_record
from suite.sweep import parse_sweep

REPO = Path(__file__).resolve().parents[2]
MPIEXEC = Path(sys.executable).with_name("mpiexec")
SETTINGS = ("warmup_steps", "timed_steps")  # the [sweep] settings batch_runs.py passes on

# GPT's tied head is the interesting case (both ends hold the embedding); llama-tiny is untied.
PIPELINE = """
[sweep]
name = "pp"
warmup_steps = 1
timed_steps = 2

[[axes]]
model = ["tiny", "llama-tiny"]
world_size = 1
micro_batch = 2
seq_len = 16
grad_accum = 2

[[axes]]
model = "tiny"
world_size = 2
micro_batch = 2
seq_len = 16
grad_accum = 2
pipeline_stages = 2
zero_stage = [0, 1]

[[axes]]
model = "llama-tiny"
world_size = 2
micro_batch = 2
seq_len = 16
grad_accum = 2
pipeline_stages = 2
zero_stage = 1
"""
SEQUENCE = """
[sweep]
name = "sp"
warmup_steps = 1
timed_steps = 2

[[axes]]
model = ["llama-tiny", "tiny"]
world_size = 1
micro_batch = 2
seq_len = 16

[[axes]]
model = ["llama-tiny", "tiny"]
world_size = 2
micro_batch = 2
seq_len = 16
sequence_parallel = 2
zero_stage = 1
"""
TENSOR = """
[sweep]
name = "tp"
warmup_steps = 1
timed_steps = 2

[[axes]]
model = "llama-tiny"
world_size = 1
micro_batch = 2
seq_len = 16

[[axes]]
model = "llama-tiny"
world_size = 2
micro_batch = 2
seq_len = 16
tensor_parallel = 2
zero_stage = [0, 1, 2]
"""
SWEEPS = {"pp": PIPELINE, "sp": SEQUENCE, "tp": TENSOR}


def launch(tmp: Path, ranks: int, entries: list[dict]) -> list[dict]:
    """Rank 0's ok records of `entries`, in their order, from one MPI launch."""
    spec = tmp / f"batch-{ranks}.json"
    spec.write_text(json.dumps(entries))
    done = subprocess.run([str(MPIEXEC), "-n", str(ranks), sys.executable,
                           str(REPO / "tests" / "jobs" / "batch_runs.py"), str(spec)],
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    found = [json.loads(x[6:]) for x in done.stdout.splitlines() if x.startswith("BATCH ")]
    assert len(found) == len(entries)
    return found


def entries(text: str) -> list[dict]:
    """batch_runs.py's entry of each scenario of a sweep, in the sweep's order."""
    table = tomllib.loads(text)
    settings = {k: table["sweep"][k] for k in SETTINGS}
    return [{"values": dict(s.params), "settings": settings}
            for s in parse_sweep(table).scenarios]


def run(tmp: Path) -> dict[str, Path]:
    """{sweep name: the folder holding its runs/*.json}, every run made."""
    sweeps = {name: entries(text) for name, text in SWEEPS.items()}
    unique = {key(e): e for es in sweeps.values() for e in es}  # a shared run once
    by_size: dict[int, list[dict]] = {}
    for e in unique.values():
        by_size.setdefault(int(e["values"]["world_size"]), []).append(e)
    made = {}
    for size, es in sorted(by_size.items()):
        made.update({key(e): r for e, r in zip(es, launch(tmp, size, es), strict=True)})
    for name, es in sweeps.items():
        for e in es:
            write_record(tmp / name, RunRecord.from_json(made[key(e)]))
    return {name: tmp / name for name in sweeps}


def key(entry: dict) -> str:
    return json.dumps(entry, sort_keys=True)
