"""The frame cache: whatever happens to it, the frame is exactly the records' frame."""

import json
import os
import time
from collections import Counter

import pandas as pd
import pytest

from analysis.sources import load_sources
from results.cache import _META, cache_path, folder_frame, is_current, load_table, save_table
from results.frame import records_frame
from results.load import load_records
from results.store import record_path, runs_dir, write_record


def age(folder, seconds=60, paths=None):
    """Date record files (all of them by default) `seconds` back: older than the cache's
    racy window."""
    past = time.time() - seconds
    for path in paths or runs_dir(folder).glob("*.json"):
        os.utime(path, (past, past))


def truth(folder) -> pd.DataFrame:
    records, _ = load_records(folder)
    return records_frame(records)


def counted(folder) -> dict:
    counts: dict = {}
    for record in load_records(folder)[0]:
        for key, value in record.fingerprint.items():
            counts.setdefault(key, Counter())[value] += 1
    return {k: dict(v) for k, v in counts.items()}


@pytest.fixture
def folder(tmp_path, make_record):
    for status, params in (("ok", {"micro_batch": 1}), ("ok", {"micro_batch": 2}),
                           ("failed", {"micro_batch": 3}), ("oom", {"world_size": 2}),
                           ("ok", {"seq_len": 32})):
        write_record(tmp_path, make_record(status=status, **params))
    (runs_dir(tmp_path) / "broken.json").write_bytes(b"{")  # never cached, always quarantined
    age(tmp_path)
    return tmp_path


def check(folder, decoded: int) -> None:
    read = folder_frame(folder)
    pd.testing.assert_frame_equal(read.frame, truth(folder))
    assert read.fingerprints == counted(folder)
    assert [os.path.basename(q.path) for q in read.quarantined] == ["broken.json"]
    assert read.decoded == decoded and read.unwritable is None


def test_a_second_load_decodes_only_the_bad_file_and_gives_the_same_frame(folder):
    assert not is_current(folder)
    check(folder, decoded=6)
    assert cache_path(folder).is_file() and is_current(folder)
    check(folder, decoded=1)
    assert folder_frame(folder).fingerprints == {"hostname": {"h": 5}, "torch": {"2.13.0": 5}}


def flip(data: bytes) -> bytes:
    """Bytes changed near the start: the end of the cache's header, the Arrow file's own."""
    return data[:40] + bytes(b ^ 0xFF for b in data[40:104]) + data[104:]


@pytest.mark.parametrize("damage", [
    lambda b: b[: len(b) // 2],  # truncated
    lambda b: b[:-10],  # footer cut
    flip,  # bytes changed inside a data page (its checksum fails)
    lambda b: b"",
    lambda b: b"PAR1 not a parquet file PAR1",
    lambda b: b[:70] + bytes([b[70] ^ 1]) + b[71:],  # one bit inside the Arrow file
    lambda b: os.urandom(len(b)),
])
def test_a_damaged_cache_is_rebuilt(folder, damage):
    check(folder, decoded=6)
    path = cache_path(folder)
    path.write_bytes(damage(path.read_bytes()))
    check(folder, decoded=6)  # rebuilt from the records
    check(folder, decoded=1)  # and whole again


def test_a_cache_made_by_other_code_is_rebuilt(folder):
    check(folder, decoded=6)
    table = load_table(cache_path(folder))
    meta = json.loads(table.schema.metadata[_META])
    table = table.replace_schema_metadata({**table.schema.metadata,
                                           _META: json.dumps({**meta, "stamp": "old"})})
    save_table(cache_path(folder), table)
    check(folder, decoded=6)


def test_a_stale_cache_is_not_trusted(folder, make_record):
    check(folder, decoded=6)
    changed = [write_record(folder, make_record(status="timeout", micro_batch=1)),  # rewritten
               write_record(folder, make_record(micro_batch=7, zero_stage=2))]  # new
    record_path(folder, make_record(micro_batch=2).run_id).unlink()  # gone
    age(folder, seconds=30, paths=changed)
    check(folder, decoded=3)
    assert sorted(truth(folder)["status"]) == ["failed", "ok", "ok", "oom", "timeout"]
    check(folder, decoded=1)


def test_a_record_replaced_within_the_same_mtime_is_read_again(tmp_path, make_record):
    """A file system with coarse mtimes: a record rewritten, same size, same mtime, right
    after the cache was made. Rows that recent are never trusted."""
    write_record(tmp_path, make_record(micro_batch=1))
    path = record_path(tmp_path, make_record(micro_batch=1).run_id)
    folder_frame(tmp_path)
    before = os.stat(path)
    text = path.read_text()
    path.write_text(text.replace('"duration_s": 10.0', '"duration_s": 99.0'))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(path).st_size == before.st_size
    read = folder_frame(tmp_path)
    assert list(read.frame["duration_s"]) == [99.0]
    pd.testing.assert_frame_equal(read.frame, truth(tmp_path))


def test_deleting_the_cache_changes_nothing(folder):
    first = folder_frame(folder).frame
    cache_path(folder).unlink()
    pd.testing.assert_frame_equal(folder_frame(folder).frame, first)


def test_a_folder_where_the_cache_cannot_be_written_still_loads_and_says_so_once(
        tmp_path, make_record, capsys):
    for night in ("a", "b"):
        write_record(tmp_path / night, make_record(micro_batch=1))
        cache_path(tmp_path / night).mkdir()  # nothing can replace it: as a read-only folder
    read = folder_frame(tmp_path / "a")
    assert read.unwritable and len(read.frame) == 1
    pd.testing.assert_frame_equal(read.frame, truth(tmp_path / "a"))
    sources = load_sources([tmp_path])
    assert len(sources.frame) == 2
    err = capsys.readouterr().err
    assert err.count("frame cache could not be written") == 1 and "2 sweep folder" in err
    assert not list((tmp_path / "a").glob("*.tmp"))  # no temporary file left behind


def test_values_arrow_cannot_hold_load_uncached(tmp_path, make_record):
    """A hand-edited scenario value of another type than the same column's elsewhere (an
    int and a text): Arrow cannot hold the column, so the folder loads without a cache."""
    for micro_batch, note in ((1, 5), (2, "five")):
        record = make_record(micro_batch=micro_batch)
        data = record.to_json()
        data["scenario"]["params"]["note"] = note
        record_path(tmp_path, record.run_id).parent.mkdir(parents=True, exist_ok=True)
        record_path(tmp_path, record.run_id).write_text(json.dumps(data))
    age(tmp_path)
    for _ in range(2):
        read = folder_frame(tmp_path)
        assert read.table is None and not cache_path(tmp_path).exists()
        pd.testing.assert_frame_equal(read.frame, truth(tmp_path))
        assert sorted(read.frame["note"], key=str) == [5, "five"]


def test_an_empty_sweep_folder_loads(tmp_path):
    runs_dir(tmp_path).mkdir()
    read = folder_frame(tmp_path)
    assert len(read.frame) == 0 and read.quarantined == () and read.fingerprints == {}


def test_records_and_the_cache_are_made_with_the_umask(tmp_path, make_record):
    old = os.umask(0o027)  # the group may read, others not
    try:
        write_record(tmp_path, make_record())
        age(tmp_path)
        folder_frame(tmp_path)
    finally:
        os.umask(old)
    record = next(runs_dir(tmp_path).glob("*.json"))
    assert [p.stat().st_mode & 0o777 for p in (record, cache_path(tmp_path))] == [0o640] * 2
