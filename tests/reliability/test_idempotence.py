"""Promise 4: resubmission is idempotent. Running a sweep again into the same folder leaves
one record per run_id, `attempt` counting the launches; --resume launches only what has no
ok record and leaves the ok records as they were (byte for byte).

Slurm's side (submit --resume; after a requeue only the record of the submitted attempt
speaks for a run), in tests/slurm/:
test_slurm_cluster.py::test_resume_reruns_only_the_runs_without_an_ok_record and
test_slurm_states.py::test_only_a_record_of_the_submitted_attempt_speaks_for_the_run.
"""

from __future__ import annotations

import pytest

from reliability import cases as fault_cases

pytestmark = pytest.mark.slow


def test_reruns_keep_one_record_per_run_and_count_attempts(make_case):
    case = make_case("rerun")
    seen = fault_cases.rerun(case, times=2)  # run 1 crashes every time, run 2 is ok
    assert seen.expected, seen
    crashed, ok = case.records()
    assert (crashed.status, crashed.attempt) == ("failed", 3)  # 2 runs + --resume
    assert (ok.status, ok.attempt) == ("ok", 2)  # --resume did not launch it again; the
    # kind checked its file is byte for byte the one of the second run
    assert sorted(p.name for p in case.record_path(ok.run_id).parent.iterdir()) == \
        sorted(f"{run_id}.json" for run_id in case.run_ids)
    assert case.load()[1] == []
    assert case.verify().left == 0
