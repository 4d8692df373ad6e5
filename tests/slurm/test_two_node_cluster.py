"""Sweeps across nodes on the real two-node Slurm cluster (slurm/cluster/up.sh --nodes 2).

Nodes n1 and n2 are two slurmd on this one host, one CPU each: Slurm's multi-node logic and
memsweep's run for real (the node list, one rank per node, the rendezvous through the first
node, a node that dies under a running task), the network between the nodes does not (see
slurm/cluster/README.md). A cluster that is not up fails these tests with how to bring it up.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from cluster_support import (
    cancel_leftovers,
    memsweep,
    require_two_nodes,
    wait_for_text,
)
from executor_support import REPO, records, to_toml

from reliability.cluster import TWO_NODE, processes_of
from results.store import log_path
from slurm import status
from slurm.states import parse_squeue
from slurm.submissions import Submission
from suite.sweep import Sweep, parse_sweep

pytestmark = pytest.mark.slurm

CPU_2NODE = str(REPO / "slurm" / "profiles" / "cpu-2node.toml")
WATCH = ("--watch", "--interval", "3")
# The node-death run is killed by its node mid-training, and the resumed run trains all of it
# again: long enough to be in its timed steps when n2 dies (~0.1 s a step here), short enough
# that the resume stays a minute of CI. Slurm is told at once that the node is gone (as a
# health check would), rather than after SlurmdTimeout, so the run need not outlast that.
LONG_STEPS = 400
# Why Slurm 22.05 holds back a job that needs a node that is down (squeue's reason; the
# drain test's task waits with "ReqNodeNotAvail, UnavailableNodes:n2").
DOWN_NODE_WAIT = "pending: Nodes required for job are DOWN, DRAINED or reserved for jobs in"


def zero3(name: str, *, timed_steps: int) -> dict:
    return {"sweep": {"name": name, "warmup_steps": 1, "timed_steps": timed_steps,
                      "timeout_s": 600},
            "axes": {"model": "tiny", "world_size": 2, "zero_stage": 3, "precision": "fp32"}}


def submit(doc: dict, folder: Path, env: dict) -> tuple[Sweep, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sweep.toml").write_text(to_toml(doc))
    out = folder / "out"
    sub = memsweep("submit", str(folder / "sweep.toml"), "--profile", CPU_2NODE,
                   "--out", str(out), env=env)
    assert sub.returncode == 0, sub.stderr
    return parse_sweep(doc), out


def pipeline(name: str) -> dict:
    return {"sweep": {"name": name, "warmup_steps": 1, "timed_steps": 2, "timeout_s": 600},
            "axes": {"model": "tiny", "world_size": 2, "zero_stage": 1, "grad_accum": 2,
                     "pipeline_stages": 2, "precision": "fp32"}}


# ZeRO-3 gathers parameters across the nodes; a pipeline sends activations from the stage on
# n1 to the stage on n2 and gradients back.
@pytest.mark.parametrize("doc", [zero3("two-node-z3", timed_steps=2), pipeline("two-node-pp")],
                         ids=["zero3", "pipeline"])
def test_a_run_spans_two_nodes_with_the_single_node_loss(tmp_path, doc):
    env = require_two_nodes()
    t0 = time.monotonic()
    sweep, out = submit(doc, tmp_path / "two", env)
    try:
        watch = memsweep("status", str(out), *WATCH, env=env, timeout_s=540)
    finally:
        cancel_leftovers(out, env=env)
    print(f"two-node {doc['sweep']['name']} sweep: {time.monotonic() - t0:.0f} s")
    assert watch.returncode == 0, watch.stdout + watch.stderr
    [rec] = records(sweep, out)
    assert rec.status == "ok", rec.reason
    assert "#SBATCH --nodes=2\n" in (out / "slurm-array.sh").read_text()
    assert [(r.rank, r.node) for r in rec.ranks] == [(0, "n1"), (1, "n2")]
    if doc["axes"].get("pipeline_stages"):
        assert [r.pipeline_stage for r in rec.ranks] == [0, 1]  # one stage per node
    fp = rec.fingerprint
    assert (fp["partition"], fp["nodelist"]) == ("two", "n[1-2]")
    assert (fp["rank_nodes"], fp["placement"]) == ("n1,n2", "n1:0 n2:1")
    assert fp["nodes_share_host"] == "yes"  # two slurmd, one machine: the record says so
    assert fp["launcher"] == "mpi" and "store 127.0.0.1:" in log_path(out, rec.run_id).read_text()

    # The same scenario on one node (the local executor, mpiexec): the same training.
    local = tmp_path / "local"
    local.mkdir()
    (local / "sweep.toml").write_text(to_toml(doc))
    t0 = time.monotonic()
    ran = memsweep("run", str(local / "sweep.toml"), "--out", str(local / "out"), timeout_s=600)
    print(f"single-node run: {time.monotonic() - t0:.0f} s")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    [one] = records(sweep, local / "out")
    assert one.status == "ok" and {r.node for r in one.ranks} == {None}
    assert one.fingerprint["nodes_share_host"] is None
    assert abs(rec.measurements.final_loss - one.measurements.final_loss) <= 1e-5


@dataclass(frozen=True)
class NodeDeath:
    sweep: Sweep
    out: Path
    env: dict
    watch: subprocess.CompletedProcess
    left: list[str]  # the run's processes still alive once the node was back


@pytest.fixture(scope="module")
def node_death(tmp_path_factory) -> NodeDeath:
    """A two-node run whose node n2 dies (its slurmd SIGKILLed) in the middle of training;
    waited for to the end, then the node brought back as a rebooted one would be."""
    env = require_two_nodes()
    root = tmp_path_factory.mktemp("node-death")
    sweep, out = submit(zero3("two-node-death", timed_steps=LONG_STEPS), root, env)
    t0 = time.monotonic()
    try:
        wait_for_text(log_path(out, sweep.scenarios[0].run_id), "worker: timing", 300)
        TWO_NODE.kill_daemon("slurmd", "n2")  # SIGKILL
        TWO_NODE.set_node("n2", "down", "memsweep test: slurmd killed")
        watch = memsweep("status", str(out), *WATCH, env=env, timeout_s=400)
    finally:
        cancel_leftovers(out, env=env)
        try:  # n2's step outlives its slurmd here; a dead node's processes are all gone
            cleared = TWO_NODE.clear_node("n2")
        finally:  # up.sh starts its slurmd again; ReturnToService=2 makes it usable again
            problem = TWO_NODE.restore(nodes=("n2",))
    print(f"node death: {time.monotonic() - t0:.0f} s; left of n2's step, killed: {cleared}")
    assert problem == ""
    return NodeDeath(sweep=sweep, out=out, env=env, watch=watch, left=processes_of(out, 60))


def test_a_node_that_dies_under_a_run_gives_node_fail_naming_it(node_death):
    assert node_death.watch.returncode == 1, node_death.watch.stdout + node_death.watch.stderr
    [rec] = records(node_death.sweep, node_death.out)
    assert rec is not None  # no lost run
    assert rec.status == "node_fail", rec.reason
    assert rec.reason.startswith("node n2 is down"), rec.reason
    assert rec.attempt == 1 and rec.fingerprint["nodelist"] == "n[1-2]"
    assert len(list((node_death.out / "runs").glob("*.json"))) == 1
    assert node_death.left == []  # nothing of the run left running anywhere


def test_resume_after_the_node_is_back_ends_ok(node_death):
    env, out = node_death.env, node_death.out
    require_two_nodes()
    t0 = time.monotonic()
    try:
        sub = memsweep("submit", "--resume", str(out), env=env)
        assert sub.returncode == 0, sub.stderr
        watch = memsweep("status", str(out), *WATCH, env=env, timeout_s=540)
    finally:
        cancel_leftovers(out, env=env)
    print(f"resume after the node came back: {time.monotonic() - t0:.0f} s")
    assert watch.returncode == 0, watch.stdout + watch.stderr
    [rec] = records(node_death.sweep, out)
    assert (rec.status, rec.attempt) == ("ok", 2)
    assert [r.node for r in rec.ranks] == ["n1", "n2"]


def test_a_drained_node_lets_its_task_finish_and_status_says_why_the_next_one_waits(tmp_path):
    env = require_two_nodes()
    doc = zero3("two-node-drain", timed_steps=200)
    doc["sweep"]["repetitions"] = 2
    sweep, out = submit(doc, tmp_path, env)
    scontrol = ["scontrol", "update", "nodename=n2"]
    t0 = time.monotonic()
    seen = ""
    try:
        wait_for_text(log_path(out, sweep.scenarios[0].run_id), "worker: timing", 300)
        subprocess.run([*scontrol, "state=drain", "reason=memsweep test: drained"],
                       env={**os.environ, **env}, check=True, timeout=60)
        end = time.monotonic() + 300
        while records(sweep, out)[0] is None:  # task 0 runs on to its end
            assert time.monotonic() < end, "task 0 never ended"
            time.sleep(2)
        first = records(sweep, out)[0]
        while "pending: " not in task_line(seen, 1) or "JobArrayTaskLimit" in task_line(seen, 1):
            assert time.monotonic() < end, seen  # now task 1 waits for the drained node
            time.sleep(2)
            seen = memsweep("status", str(out), env=env).stdout
    finally:
        subprocess.run([*scontrol, "state=resume"], env={**os.environ, **env},
                       capture_output=True, check=False, timeout=60)
    try:
        watch = memsweep("status", str(out), *WATCH, env=env, timeout_s=400)
    finally:
        cancel_leftovers(out, env=env)
    print(f"drain: {time.monotonic() - t0:.0f} s; status while drained:\n{seen}")
    assert first is not None and (first.status, first.attempt) == ("ok", 1)
    assert " PENDING " in task_line(seen, 1)
    assert watch.returncode == 0, watch.stdout + watch.stderr
    assert [(r.status, r.attempt) for r in records(sweep, out)] == [("ok", 1), ("ok", 1)]


def task_line(status_text: str, index: int) -> str:
    """The line of `memsweep status` for plan index `index` ("" if none)."""
    return next((line for line in status_text.splitlines()
                 if line.split(" ", 1)[0] == str(index)), "")


def test_a_job_that_died_with_its_node_is_reconciled_naming_the_node(tmp_path, monkeypatch):
    """The task died with the node (no record of its own): `status --reconcile` names the node
    Slurm still has down. The squeue line is one this cluster gave for such a job."""
    env = require_two_nodes()
    monkeypatch.setenv("SLURM_CONF", env["SLURM_CONF"])
    [job] = parse_squeue("4|4|0|NODE_FAIL|256|2026-12-02T23:43:19|2026-12-02T23:44:13|n[1-2]|"
                         "NodeDown|\n")
    sub = Submission(array_job_id="4", indices=(0,), attempts=(1,),
                     submitted_at="2026-12-02T23:43:00+00:00")
    scenario = parse_sweep(zero3("two-node-gone", timed_steps=2)).scenarios[0]
    scontrol = ["scontrol", "update", "nodename=n2"]
    subprocess.run([*scontrol, "state=down", "reason=memsweep test: gone"], check=True,
                   timeout=60)
    try:
        rec = status.settle_from_slurm(tmp_path, scenario=scenario, sub=sub, index=0, job=job)
    finally:
        subprocess.run([*scontrol, "state=resume"], check=False, timeout=60)
    assert rec.status == "node_fail"
    # Slurm adds flags to the state while other jobs wait for the node (down+planned).
    assert re.match(r"node n2 is down(\+[a-z_]+)* \(Slurm: memsweep test: gone\); Slurm job "
                    r"4_0 ended in NODE_FAIL", rec.reason), rec.reason
    assert rec.fingerprint["nodelist"] == "n[1-2]"
    require_two_nodes()  # and the node is back


def test_with_a_node_down_the_one_node_runs_go_on_and_resume_finishes_the_rest(tmp_path):
    """n2 down before the sweep: its one-node run ends ok on n1 (its own array asks for one
    node) while the two-node run waits and `status` says why; the user cancels that wait,
    and once n2 is back `submit --resume` runs it ok on both nodes."""
    env = require_two_nodes()
    doc = zero3("two-node-shapes", timed_steps=2)
    doc["axes"]["world_size"] = [1, 2]
    t0 = time.monotonic()
    seen = ""
    try:
        TWO_NODE.set_node("n2", "down", "memsweep test: n2 down for the sweep")
        sweep, out = submit(doc, tmp_path, env)
        [one, two] = json.loads((out / "slurm.json").read_text())["submissions"]
        assert (one["indices"], one["nodes"], two["indices"], two["nodes"]) == ([0], 1, [1], 2)
        end = time.monotonic() + 300
        while records(sweep, out)[0] is None or DOWN_NODE_WAIT not in task_line(seen, 1):
            assert time.monotonic() < end, seen  # the world-1 run ends; the world-2 one waits
            time.sleep(2)
            seen = memsweep("status", str(out), env=env).stdout
        subprocess.run(["scancel", two["array_job_id"]], env={**os.environ, **env},
                       check=True, timeout=60)  # the user stops waiting for n2
        cancelled = memsweep("status", str(out), *WATCH, env=env, timeout_s=300)
    finally:
        cancel_leftovers(tmp_path / "out", env=env)
        problem = TWO_NODE.restore(nodes=("n2",))  # n2 back, whatever happened
    down_s = time.monotonic() - t0
    assert problem == ""
    first, waited = records(sweep, out)
    assert (first.status, first.attempt) == ("ok", 1), first.reason
    assert [r.node for r in first.ranks] == ["n1"] and first.fingerprint["nodelist"] == "n1"
    assert (waited.status, waited.attempt) == ("cancelled", 1), waited.reason  # reconciled
    assert cancelled.returncode == 1, cancelled.stdout + cancelled.stderr
    try:
        sub = memsweep("submit", "--resume", str(out), env=env)
        assert sub.returncode == 0, sub.stderr
        assert "1 of 2 runs as one job array" in sub.stdout
        assert "#SBATCH --nodes=2\n" in (out / "slurm-array.sh").read_text()
        watch = memsweep("status", str(out), *WATCH, env=env, timeout_s=400)
    finally:
        cancel_leftovers(out, env=env)
    print(f"n2 down: {down_s:.0f} s, resume: {time.monotonic() - t0 - down_s:.0f} s; "
          f"status while n2 was down:\n{seen}")
    assert watch.returncode == 0, watch.stdout + watch.stderr
    again = records(sweep, out)
    assert [(r.status, r.attempt) for r in again] == [("ok", 1), ("ok", 2)]
    assert [r.node for r in again[1].ranks] == ["n1", "n2"]
