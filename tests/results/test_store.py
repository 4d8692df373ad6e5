import json
import os

import pytest

from results.load import load_records
from results.schema import RunRecord, SchemaError
from results.store import record_path, write_json_atomic, write_record
from suite.errors import UserInputError


def test_record_round_trips_through_json(make_record):
    record = make_record()
    assert RunRecord.from_json(json.loads(json.dumps(record.to_json()))) == record


def test_failed_record_round_trips(make_record):
    record = make_record(status="failed")
    assert RunRecord.from_json(record.to_json()) == record


@pytest.mark.parametrize("mutate, problem", [
    (lambda d: d.update(schema_version=2), "schema_version"),
    (lambda d: d.update(status="great"), "status"),
    (lambda d: d["ranks"][0].update(params_bytes="100"), r"record\.ranks\[0\]\.params_bytes"),
    (lambda d: d["measurements"].update(final_loss=None), "final_loss"),
    (lambda d: d.update(extra=1), "unknown field `extra`"),
    (lambda d: d.pop("status"), "status"),
    (lambda d: d.update(measurements=None), "ok record must hold"),
    (lambda d: d.update(attempt=True), "record.attempt"),
])
def test_strict_schema_rejects_wrong_records(make_record, mutate, problem):
    data = make_record().to_json()
    mutate(data)
    with pytest.raises(SchemaError, match=problem):
        RunRecord.from_json(data)


def test_atomic_write_leaves_no_temp_files(tmp_path):
    target = tmp_path / "a" / "x.json"
    write_json_atomic(target, {"a": 1})
    write_json_atomic(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert os.listdir(target.parent) == ["x.json"]


def test_atomic_write_failure_keeps_old_file(tmp_path):
    target = tmp_path / "x.json"
    write_json_atomic(target, {"a": 1})
    with pytest.raises(TypeError):
        write_json_atomic(target, {"a": object()})  # not serialisable, fails mid-write
    assert json.loads(target.read_text()) == {"a": 1}
    assert os.listdir(tmp_path) == ["x.json"]


@pytest.mark.parametrize("bad", ["../x", "a/b", "", ".hidden", "a\nb", "$(rm -rf ~)"])
def test_record_path_refuses_unsafe_run_ids(tmp_path, bad):
    with pytest.raises(UserInputError):
        record_path(tmp_path, bad)


def test_loader_quarantines_bad_files_and_keeps_good_ones(tmp_path, make_record):
    good = make_record()
    write_record(tmp_path, good)
    runs = tmp_path / "runs"
    (runs / "empty.json").write_bytes(b"")
    (runs / "nul.json").write_bytes(b"\x00\x00")
    text = json.dumps(good.to_json())
    (runs / "truncated.json").write_text(text[: len(text) // 2])
    (runs / "other.json").write_text(text)  # valid record under the wrong name
    records, bad = load_records(tmp_path)
    assert records == [good]
    assert sorted(os.path.basename(q.path) for q in bad) == [
        "empty.json", "nul.json", "other.json", "truncated.json"]
    assert all(q.problem for q in bad)


def test_loader_of_missing_folder_is_empty(tmp_path):
    assert load_records(tmp_path / "nothing") == ([], [])


def test_a_record_with_nan_written_by_json_is_read(tmp_path, make_record):
    """json.dump writes NaN for a float that is not a number; such a record stays valid."""
    record = make_record()
    data = record.to_json()
    data["ranks"][0]["step_time_s"] = float("nan")
    path = record_path(tmp_path, record.run_id)
    write_json_atomic(path, data)
    (loaded,), bad = load_records(tmp_path)
    assert bad == [] and loaded.ranks[0].step_time_s != loaded.ranks[0].step_time_s
