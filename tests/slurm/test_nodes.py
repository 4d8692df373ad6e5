"""The nodes of a job as sinfo reports them, and which of them failed (pure: no cluster).

The sinfo lines were captured from the two-node cluster (slurm/cluster/up.sh --nodes 2).
"""

from __future__ import annotations

import pytest
from executor_support import make_sweep

from slurm import status
from slurm.nodes import NodeRow, node_failure, parse_sinfo
from slurm.states import JobRow
from slurm.submissions import Submission

SINFO = """\
n1|allocated|none|
n2|down+not_responding|Not responding|
n3|idle+drain|memsweep: a long maintenance reason with several words in it|
n4|down+drain|taken down by hand|
n5|idle+not_responding|none|
n1|allocated|none|
"""


def test_sinfo_lines_become_one_row_per_node():
    rows = parse_sinfo(SINFO)
    assert [r.name for r in rows] == ["n1", "n2", "n3", "n4", "n5"]  # n1 in two partitions
    assert rows[2].reason == "memsweep: a long maintenance reason with several words in it"
    with pytest.raises(ValueError, match="unexpected sinfo line"):
        parse_sinfo("n1 idle none\n")


def test_down_failing_or_silent_nodes_failed_and_drained_ones_did_not():
    failed = {r.name: r.failed for r in parse_sinfo(SINFO)}
    assert failed == {"n1": False, "n2": True, "n3": False, "n4": True, "n5": True}


def test_the_failure_names_each_failed_node_and_slurms_reason():
    rows = parse_sinfo(SINFO)
    assert node_failure(rows[:1]) is None
    assert node_failure(rows[:3]) == "node n2 is down+not_responding (Slurm: Not responding)"
    assert node_failure(rows) == ("node n2 is down+not_responding (Slurm: Not responding); "
                                  "node n4 is down+drain (Slurm: taken down by hand); "
                                  "node n5 is idle+not_responding")
    with pytest.raises(ValueError, match="needs a name"):
        NodeRow(name="", state="idle", reason="none")


def test_status_shows_why_a_task_is_pending(tmp_path):
    sweep = make_sweep(zero_stage=[0, 1])
    sub = Submission(array_job_id="45", indices=(0, 1), attempts=(1, 1),
                     submitted_at="2026-11-25T19:00:00+00:00")
    jobs = [JobRow(job_id="46", array_job_id="45", array_task_id=0, state="RUNNING",
                   exit_status=None, start=None, end=None, reason="None"),
            JobRow(job_id="45", array_job_id="45", array_task_id=1, state="PENDING",
                   exit_status=None, start=None, end=None,
                   reason="ReqNodeNotAvail, UnavailableNodes:n2")]
    rows = tuple(status.Row(index=i, scenario=s, owner=sub, job=job, record=None)
                 for i, (s, job) in enumerate(zip(sweep.scenarios, jobs, strict=True)))
    snap = status.Snapshot(sweep="t", folder=tmp_path, rows=rows, submissions=(sub,),
                           report=None)
    lines = status.render(snap).splitlines()
    assert lines[2].split()[-3:] == ["RUNNING", "-", "-"]  # no reason for a running task
    assert lines[3].split("  -       -  ")[-1].strip() == \
        "pending: ReqNodeNotAvail, UnavailableNodes:n2"
