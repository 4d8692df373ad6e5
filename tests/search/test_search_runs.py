"""Capacity searches with real runs: real DeepSpeed ranks under a real per-rank cap.

Each search brackets its boundary with ordinary runs: the last ok probe, and the next one
up ended `oom` within the resolution. An interrupted search continues from its recorded
probes and never runs one twice.
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

SWEEP = """
[sweep]
name = "search-real"
warmup_steps = 1
timed_steps = 1
host_mem_cap = "560MiB"
deepspeed_base = "ds.json"

[axes]
world_size = 2
micro_batch = 2
seq_len = 32
zero_stage = {stages}

[search]
axis = "model"
from = "small"
to = "base"
resolution = 0.25
"""
# The buckets of the demo's capacity sweep, scaled to CPU-scale models.
DS = (REPO / "suite" / "sweeps" / "capacity_ds.json").read_text()


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
        if o.status == "found":
            assert records[o.last_ok.run_id].status == "ok"
            assert records[o.first_failed.run_id].status == "oom"
            assert o.first_failed.size > o.last_ok.size
            ladder = [search.size(v) for v in search.ladder()]
            between = [s for s in ladder if o.last_ok.size < s < o.first_failed.size]
            assert not between or o.first_failed.size <= o.last_ok.size * 1.25
            # the analytical model (tensor peak + the runtime term) predicted it within a step
            assert abs(o.last_ok.size / o.predicted_size - 1) <= search.resolution, \
                (o.last_ok.size, o.predicted_size)
        assert len({p.run_id for p in o.probes}) == len(o.probes)  # none run twice
    return outcomes


# One sweep of two searches serves both properties (each search costs minutes of real runs):
# the first search is interrupted and resumed, the second runs whole in the resumed run.
def test_searches_interrupted_resume_from_their_probes_and_bracket_each_boundary(tmp_path):
    sweep = write_sweep(tmp_path, [0, 3])
    out = tmp_path / "out"
    first = memsweep_run(sweep, out)
    deadline = time.monotonic() + 900
    while len(list((out / "runs").glob("*.json"))) < 2:  # two probes recorded
        assert first.poll() is None and time.monotonic() < deadline
        time.sleep(1)
    first.send_signal(signal.SIGINT)  # Ctrl-C: the launcher records the probe going cancelled
    head, _ = first.communicate(timeout=120)
    assert first.returncode == 130, head
    done = {r.run_id: r for r in load_records(out)[0] if r.status in ("ok", "oom")}
    assert len(done) >= 2
    second = memsweep_run(sweep, out)
    tail, _ = second.communicate(timeout=1500)
    print(head, tail)
    assert second.returncode == 0, tail
    outcomes = check_boundaries(sweep, out)
    assert len(outcomes) == 2
    reused = [p for o in outcomes for p in o.probes if p.reused]
    assert {p.run_id for p in reused} >= set(done)  # every recorded probe reused ...
    for r in load_records(out)[0]:  # ... and none run twice
        if r.run_id in done:
            assert r.attempt == done[r.run_id].attempt == 1
    assert "(recorded before: reused)" in tail
