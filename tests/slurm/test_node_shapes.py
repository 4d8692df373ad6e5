"""One job array per node count (slurm/node_shapes.py): each task asks for the nodes its own
scenario needs, so a sweep goes on where its scenarios still fit (pure: no cluster).

(On the two-node cluster, with a node down: test_two_node_cluster.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from executor_support import REPO, make_sweep, sweep_doc, to_toml
from test_sbatch import check_golden

from memsweep.cli import main
from slurm import status, submissions
from slurm.node_shapes import Shape, nodes_for, split
from slurm.profile import Profile, load_profile
from slurm.states import JobRow
from slurm.submissions import Submission
from slurm.submit import render_scripts, script_name

TWO_NODE = load_profile(REPO / "slurm" / "profiles" / "cpu-2node.toml")  # tasks_per_node 1


@pytest.mark.parametrize(("profile", "worlds", "shapes"), [
    # one rank per node: world size W takes W nodes; fewest nodes first
    (TWO_NODE, [2, 1, 2, 1], [(1, 1, (1, 3)), (2, 2, (0, 2))]),
    # no tasks_per_node (one node, e.g. cpu-local): one array, room for the largest world
    (Profile(), [1, 4, 2], [(1, 4, (0, 1, 2))]),
    # four per node: 1..4 ranks on one node, 8 on two
    (Profile(tasks_per_node=4), [1, 4, 8, 3], [(1, 4, (0, 1, 3)), (2, 8, (2,))]),
    # the profile's nodes, when set, for every task
    (Profile(nodes=3, tasks_per_node=1), [1, 2], [(3, 2, (0, 1))]),
])
def test_each_array_asks_for_the_nodes_its_scenarios_take(profile, worlds, shapes):
    got = split(worlds, range(len(worlds)), profile)
    assert [(s.nodes, s.ntasks, s.indices) for s in got] == shapes
    assert nodes_for(5, Profile(tasks_per_node=2)) == 3


def test_a_resume_splits_only_the_runs_it_submits():
    [shape] = split([1, 2, 1, 2], [3, 1], TWO_NODE)  # both unfinished runs are world 2
    assert (shape.nodes, shape.ntasks, shape.indices) == (2, 2, (1, 3))


@pytest.mark.parametrize("bad", [dict(nodes=0, ntasks=1, indices=(0,)),
                                 dict(nodes=1, ntasks=1, indices=()),
                                 dict(nodes=1, ntasks=1, indices=(2, 2))])
def test_a_shape_without_nodes_or_indices_is_refused(bad):
    with pytest.raises(ValueError):
        Shape(**bad)


def two_shapes() -> list:
    return make_sweep(world_size=[1, 2], zero_stage=[3]).scenarios


def test_two_node_counts_render_two_arrays_golden():
    scenarios = two_shapes()
    arrays, report = render_scripts(name="smoke", scenarios=scenarios, indices=[0, 1],
                                    profile=TWO_NODE, out=Path("/scratch/memsweep/smoke"),
                                    mpi="pmi2", python="/opt/venv/bin/python")
    assert [(s.label, s.indices) for s, _ in arrays] == [("1 node", (0,)), ("2 nodes", (1,))]
    assert [script_name(s, arrays) for s, _ in arrays] == ["slurm-array-1node.sh",
                                                           "slurm-array-2nodes.sh"]
    one, two = (text for _, text in arrays)
    assert "#SBATCH --nodes=1\n#SBATCH --ntasks=1\n" in one and "#SBATCH --array=0%1\n" in one
    check_golden("array_2nodes.sh", two)
    assert "#SBATCH --partition=two\n" in report


def test_dry_run_of_two_node_counts_prints_each_array_and_the_report(tmp_path, capsys):
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(to_toml(sweep_doc(world_size=[1, 2], zero_stage=[3])))
    out = tmp_path / "out"
    assert main(["submit", str(sweep), "--out", str(out), "--dry-run",
                 "--profile", str(REPO / "slurm/profiles/cpu-2node.toml")]) == 0
    text = capsys.readouterr().out
    assert "2 of 2 runs as 2 job arrays, one per node count" in text
    assert f"--- {out}/slurm-array-1node.sh (sbatch) ---" in text
    assert f"--- {out}/slurm-array-2nodes.sh (sbatch) ---" in text
    assert "(sbatch --dependency=afterany:ARRAY_JOB_ID:...) ---" in text
    assert text.count("#!/bin/bash") == 3 and not out.exists()


def test_status_follows_every_array_of_the_last_submission(tmp_path):
    scenarios = two_shapes()
    at = "2026-12-03T05:00:00+00:00"
    old = Submission(array_job_id="30", report_job_id="31", indices=(0, 1), attempts=(1, 1),
                     submitted_at="2026-12-03T04:00:00+00:00")
    one = Submission(array_job_id="40", report_job_id="42", indices=(0,), attempts=(1,),
                     submitted_at=at, nodes=1)
    two = Submission(array_job_id="41", report_job_id="42", indices=(1,), attempts=(2,),
                     submitted_at=at, nodes=2)
    submissions.save(tmp_path, "t", [old, one, two])
    subs = submissions.load(tmp_path)
    assert subs == [old, one, two] and submissions.latest(subs) == [one, two]
    assert submissions.owners(subs) == {0: one, 1: two}
    jobs = [JobRow(job_id="43", array_job_id="40", array_task_id=0, state="RUNNING",
                   exit_status=None, start=None, end=None, reason="None", nodes="n1"),
            JobRow(job_id="41", array_job_id="41", array_task_id=1, state="PENDING",
                   exit_status=None, start=None, end=None,
                   reason="ReqNodeNotAvail, UnavailableNodes:n2")]
    rows = tuple(status.Row(index=i, scenario=s, owner=sub, job=job, record=None)
                 for i, (s, sub, job) in enumerate(zip(scenarios, (one, two), jobs,
                                                       strict=True)))
    lines = status.render(status.Snapshot(sweep="t", folder=tmp_path, rows=rows,
                                          submissions=tuple(subs), report=None)).splitlines()
    assert lines[0].endswith("; array jobs 40 (1 node), 41 (2 nodes), report job 42 "
                             "unknown to Slurm")
    assert " 40_0 " in lines[2] and " 41_1 " in lines[3]
    assert lines[3].endswith("pending: ReqNodeNotAvail, UnavailableNodes:n2")
