"""From how a launch ended to the run's one record, whatever launched it (real files, no MPI)."""

from __future__ import annotations

import json
import signal
import socket
from datetime import datetime, timedelta, timezone

import pytest
from executor_support import make_sweep

from results.schema import Measurements, RunRecord, replace
from results.store import record_path, write_record
from slurm import outcome
from slurm.outcome import Ending

SCENARIO = make_sweep().scenarios[0].to_json()
NOW = datetime.now(timezone.utc)
CRASHED = Ending(status="failed", reason="the ranks exited with code 1")


def worker_record(*, attempt=1, started=NOW, status="ok") -> RunRecord:
    m = Measurements(step_times_s=(0.1,), step_time_s=0.1, step_time_iqr_s=0.0,
                     samples_per_s=1.0, tokens_per_s=64.0, final_loss=1.0)
    return RunRecord(run_id=SCENARIO["run_id"], attempt=attempt, status=status, sweep="t",
                     scenario=SCENARIO, started_at=started.isoformat(),
                     finished_at=started.isoformat(), duration_s=1.0,
                     measurements=m if status == "ok" else None)


def settle(tmp_path, *, attempt=1, log=None):
    return outcome.settle(tmp_path, scenario=SCENARIO, attempt=attempt, launched=NOW,
                          ending=CRASHED, log=log)


def test_exit_statuses_read_as_reasons():
    assert outcome.exit_ending(1).reason == "the ranks exited with code 1"
    assert "SIGKILL" in outcome.exit_ending(-signal.SIGKILL).reason
    assert "128 + SIGKILL" in outcome.exit_ending(137).reason
    assert "wrote no record" in outcome.exit_ending(0).reason
    assert {outcome.exit_ending(c).status for c in (0, 1, -9, 137)} == {"failed"}
    assert outcome.timeout_ending(30).status == "timeout"
    assert "timeout_s = 30 s" in outcome.timeout_ending(30).reason
    assert "SIGINT" in outcome.cancelled_ending(signal.SIGINT).reason


def test_an_ending_is_never_ok():
    with pytest.raises(ValueError):
        Ending(status="ok", reason="x")
    with pytest.raises(ValueError):
        Ending(status="crashed", reason="x")


def test_the_workers_record_of_this_attempt_is_kept(tmp_path):
    write_record(tmp_path, worker_record(attempt=2, status="oom"))
    before = record_path(tmp_path, SCENARIO["run_id"]).read_bytes()
    assert settle(tmp_path, attempt=2).status == "oom"
    assert record_path(tmp_path, SCENARIO["run_id"]).read_bytes() == before


@pytest.mark.parametrize("stale", [{"attempt": 1}, {"started": NOW - timedelta(hours=1)}],
                         ids=["earlier attempt", "started before the launch"])
def test_a_stale_record_is_replaced(tmp_path, stale):
    write_record(tmp_path, worker_record(**{"attempt": 2, **stale}))
    record = settle(tmp_path, attempt=2)
    assert (record.status, record.attempt, record.reason) == ("failed", 2, CRASHED.reason)
    assert RunRecord.from_json(json.loads(record_path(tmp_path, SCENARIO["run_id"]).read_text())) \
        == record


def test_a_little_clock_skew_is_not_staleness(tmp_path):
    write_record(tmp_path, worker_record(started=NOW - timedelta(seconds=2)))
    assert settle(tmp_path).status == "ok"


def test_an_invalid_record_is_replaced_and_said_so(tmp_path):
    path = record_path(tmp_path, SCENARIO["run_id"])
    path.parent.mkdir(parents=True)
    path.write_text('{"schema_version": 1, "status": "weird"}')
    record = settle(tmp_path)
    assert record.status == "failed" and "its record was not valid" in record.reason


def test_the_launchers_record_holds_the_log_tail_and_a_fingerprint(tmp_path):
    log = tmp_path / "run.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    record = settle(tmp_path, log=log)
    lines = record.log_tail.splitlines()
    assert len(lines) == outcome.LOG_TAIL_LINES and lines[-1] == "line 99"
    assert record.log_path == str(log)
    assert record.run_id == SCENARIO["run_id"] and record.scenario == SCENARIO
    assert record.fingerprint["hostname"] == socket.gethostname()
    stamped = datetime.fromisoformat(record.fingerprint["date"])
    assert abs(stamped - datetime.now(timezone.utc)) < timedelta(minutes=5)
    assert record.fingerprint["recorded_by"] == "launcher"
    assert record.duration_s >= 0


def test_log_tail_of_a_missing_or_binary_log(tmp_path):
    assert outcome.read_log_tail(tmp_path / "none.log") is None
    (tmp_path / "b.log").write_bytes(b"ok\n\xff\xfe broken\n")
    assert outcome.read_log_tail(tmp_path / "b.log") == "ok\n\ufffd\ufffd broken"


def test_next_attempt_counts_on_from_the_stored_record(tmp_path):
    assert outcome.previous_record(tmp_path, SCENARIO["run_id"]) is None
    assert outcome.next_attempt(None) == 1
    write_record(tmp_path, replace(worker_record(), attempt=4))
    assert outcome.next_attempt(outcome.previous_record(tmp_path, SCENARIO["run_id"])) == 5
