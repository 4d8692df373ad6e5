"""Capacity searches with real runs: real DeepSpeed ranks under a real per-rank cap.

Each search brackets its boundary with ordinary runs: the last ok probe, and the next one
up ended `oom` within the resolution. An interrupted search continues from its recorded
probes and never runs one twice. At the demo's scale (suite/sweeps/capacity.toml: 1 GiB per
rank, where model states outweigh what each engine's runtime adds) the ZeRO stages' boundaries
are ordered as the stages promise for fp32 AdamW.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from results.load import load_records
from results.search_outcome import load_outcomes
from suite.sweep import load_sweep

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

# The demo's capacity sweep (suite/sweeps/capacity.toml) without its offload combination, its
# probes made cheaper: micro-batch 1, sequence 32, no warm-up, one timed step (the model states
# decide these boundaries: the same as the demo's, measured). Under a smaller cap the engines'
# runtime decides instead: at 560 MiB ZeRO-1/2's optimizer adds 48 MiB more runtime than it
# saves on ~10M-parameter models (predicted boundaries 9.7M baseline, 9.4M ZeRO-1/2).
SWEEP = """
[sweep]
name = "search-real"
warmup_steps = 0
timed_steps = 1
host_mem_cap = "1GiB"
deepspeed_base = "ds.json"

[axes]
world_size = 2
micro_batch = 1
seq_len = 32
zero_stage = {stages}

[search]
axis = "model"
from = "small"
to = "125m"
resolution = 0.3
"""
# The demo's DeepSpeed config: buckets scaled to CPU-scale models, ZeRO-3's sub_group_size.
DS = (REPO / "suite" / "sweeps" / "capacity_ds.json").read_text()
TOLERANCE = 0.05  # measured / predicted tensor peak (tests/jobs/test_peak_prediction.py)


def write_sweep(folder: Path, stages: list[int]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ds.json").write_text(DS)
    (folder / "s.toml").write_text(SWEEP.format(stages=stages))
    return folder / "s.toml"


def memsweep_run(sweep: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "memsweep", "run", str(sweep), "--out",
                             str(out)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def check_boundaries(sweep: Path, out: Path) -> list:
    """Every search concluded, every probe an ordinary ok/oom record run once, and each found
    boundary an ok probe whose next step up is oom within the resolution, within one step of
    the analytical model's boundary."""
    outcomes = load_outcomes(out)
    records = {r.run_id: r for r in load_records(out)[0]}
    search = load_sweep(sweep).search
    for o in outcomes:
        assert o.status in ("found", "all_fit", "none_fit"), (o.status, o.reason)
        for p in o.probes:  # every probe is an ordinary run record, ok or oom
            assert records[p.run_id].status == p.status and p.status in ("ok", "oom")
            for rank in records[p.run_id].ranks if p.status == "ok" else ():
                ratios = rank.predicted.ratios  # the peak model, ZeRO-3's sub-groups included
                assert abs(ratios["tensor_peak_bytes"] - 1) <= TOLERANCE, (p.value, ratios)
        if o.status == "found":
            assert records[o.last_ok.run_id].status == "ok"
            assert records[o.first_failed.run_id].status == "oom"
            assert o.first_failed.size > o.last_ok.size
            ladder = [search.size(v) for v in search.ladder()]
            between = [s for s in ladder if o.last_ok.size < s < o.first_failed.size]
            assert not between or o.first_failed.size <= o.last_ok.size * (1 + search.resolution)
            # the analytical model (tensor peak + the runtime term) predicted it within a step
            assert abs(o.last_ok.size / o.predicted_size - 1) <= search.resolution, \
                (o.last_ok.size, o.predicted_size)
        assert len({p.run_id for p in o.probes}) == len(o.probes)  # none run twice
    return outcomes


# One sweep of four searches serves every property (each search costs a minute of real runs;
# two probes where the prediction is right): the first search is interrupted after its first
# probe and resumed, the others run whole in the resumed run.
def test_searches_interrupted_resume_from_their_probes_and_bracket_each_boundary(tmp_path):
    sweep = write_sweep(tmp_path, [0, 1, 2, 3])
    out = tmp_path / "out"
    first = memsweep_run(sweep, out)
    deadline = time.monotonic() + 900
    while not list((out / "runs").glob("*.json")):  # a probe recorded
        assert first.poll() is None and time.monotonic() < deadline
        time.sleep(1)
    first.send_signal(signal.SIGINT)  # Ctrl-C: the launcher records the probe going cancelled
    head, _ = first.communicate(timeout=120)
    assert first.returncode == 130, head
    done = {r.run_id: r for r in load_records(out)[0] if r.status in ("ok", "oom")}
    assert done
    second = memsweep_run(sweep, out)
    tail, _ = second.communicate(timeout=1500)
    print(head, tail)
    assert second.returncode == 0, tail
    outcomes = check_boundaries(sweep, out)
    assert len(outcomes) == 4
    # fp32 AdamW on 2 ranks, baseline <= ZeRO-1 <= ZeRO-2 <= ZeRO-3: no stage runs out of
    # memory at a size the stage below it trained. (Each bracket is 30% wide and its start
    # the size predicted to fill the cap to ~1 MiB, so the last ok sizes alone could swap
    # two stages as close as ZeRO-1 and ZeRO-2 without either being wrong.)
    stage = {o.combination["zero_stage"]: o for o in outcomes}
    print({k: (o.last_ok.size, o.first_failed.size) for k, o in sorted(stage.items())})
    for lower, higher in ((0, 1), (1, 2), (2, 3)):
        assert stage[lower].last_ok.size < stage[higher].first_failed.size, (lower, higher)
    reused = [p for o in outcomes for p in o.probes if p.reused]
    assert {p.run_id for p in reused} >= set(done)  # every recorded probe reused ...
    for r in load_records(out)[0]:  # ... and none run twice
        if r.run_id in done:
            assert r.attempt == done[r.run_id].attempt == 1
    assert "(recorded before: reused)" in tail
