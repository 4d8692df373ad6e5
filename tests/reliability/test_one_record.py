"""Promise 1: every planned run ends with exactly one record with a final status, and nothing
is `ok` unless its worker wrote it: not an exit status, not a record left from before.

The faults are real (a rank's exception, a rank stopped with SIGSTOP, records planted
into the folder, a rank SIGKILLed) and hit `memsweep run` running the stand-in worker.
Elsewhere: a worker that exits 0 without a record is `failed`
(tests/slurm/test_local_executor.py::test_every_launch_ends_in_exactly_one_record[silent]);
Slurm's side (a Slurm state never makes a run ok) is tests/slurm/test_outcome.py and
tests/slurm/test_slurm_cluster.py::test_each_fault_ends_in_exactly_one_record_of_its_kind.
"""

from __future__ import annotations

import pytest

from reliability import cases as fault_cases
from reliability.stand_in import DEFAULTS
from results.schema import STATUSES

pytestmark = pytest.mark.slow


def one_final_record_each(case) -> list:
    records, bad = case.load()
    assert bad == []
    assert sorted(p.name for p in case.record_path(case.run_ids[0]).parent.iterdir()) == \
        sorted(f"{run_id}.json" for run_id in case.run_ids)  # one file per run, nothing else
    assert {r.run_id for r in records} == set(case.run_ids)
    assert all(r.status in STATUSES and r.status != "missing" for r in records)
    assert case.verify().left == 0
    return case.records()


def test_a_crashed_worker_is_failed_with_its_traceback_and_the_sweep_goes_on(make_case):
    case = make_case("worker-crash")
    seen = fault_cases.worker_crash(case)
    crashed, after = one_final_record_each(case)
    assert (crashed.status, crashed.attempt) == ("failed", 1), seen
    assert crashed.reason == "the ranks exited with code 1"
    assert "RuntimeError: stand-in crashed on purpose" in crashed.log_tail
    assert crashed.fingerprint["recorded_by"] == "launcher"
    assert after.status == "ok"


def test_a_stopped_rank_ends_as_timeout_not_as_a_hang(make_case):
    case = make_case("rank-hang")  # the sweep's timeout_s is 8 s; the run needs ~2 s
    seen = fault_cases.rank_signal(case, fault_cases.signal.SIGSTOP)
    stopped, after = one_final_record_each(case)
    assert stopped.status == "timeout" and "timeout_s = 8 s" in stopped.reason, seen
    # It waited for its timeout (nothing else ended it) and its ranks never got to their end.
    assert stopped.duration_s >= 8
    assert f" step {DEFAULTS['steps']}\n" not in case.log(stopped.run_id).read_text()
    assert after.status == "ok"


def test_ok_records_left_from_earlier_attempts_never_stand_for_a_run_that_died(make_case):
    case = make_case("stale-record")
    seen = fault_cases.stale_record(case)  # ok records of attempts 1 and 2 planted, then
    died, after = one_final_record_each(case)  # rank 1 SIGKILLed mid-step
    assert died.attempt == 2 and died.status == "failed", seen
    # Rank 1 named: first, or beside rank 0 where the watch saw both end at one wake-up (hydra's
    # clean-up SIGKILLs rank 0 at once; the reason then says "they ended together": 1 run in
    # 6 here at load 1.4). Rank 0 named alone would be a wrong claim.
    assert "rank 1 (pid " in died.reason and " killed by SIGKILL " in died.reason, died.reason
    assert died.measurements is None and died.fingerprint["recorded_by"] == "launcher"
    assert after.status == "ok"
