"""Loading many sweep folders into one frame: source_dir, night, partition; the fast path."""

import json

import pandas as pd
import pytest
from sweepdata import make_record

import analysis.sources
import results.cache
from analysis.sources import load_sources
from analysis.tidy import enrich
from results.cache import folder_frame
from results.frame import concat_frames, records_frame
from results.load import load_records
from results.store import runs_dir, write_record
from suite.errors import UserInputError


@pytest.fixture
def history(tmp_path):
    """HISTORY/<night>/<partition>/runs: 2 nights x (gpu-a, local), 3 runs each."""
    for night in ("2026-11-24", "2026-11-25"):
        for partition in ("gpu-a", None):
            folder = tmp_path / night / (partition or "local")
            for stage in (0, 1, 3):
                write_record(folder, make_record(model="tiny", stage=stage, offload="none",
                                                 night=night, partition=partition))
    (tmp_path / "notes").mkdir()  # a folder without records is passed over
    return tmp_path


def test_a_history_folder_loads_every_sweep_folder_below_it(history):
    sources = load_sources([history])
    frame = sources.frame
    assert len(sources.sweep_dirs) == 4 and len(frame) == 12
    assert frame.groupby("source_dir").size().to_dict() == {
        str(history / n / p): 3 for n in ("2026-11-24", "2026-11-25") for p in ("gpu-a", "local")}
    assert sorted(frame["night"].unique()) == ["2026-11-24", "2026-11-25"]
    assert frame["partition"].isna().sum() == 6  # outside Slurm: no partition in the record
    assert sorted(enrich(frame)["partition"].unique()) == ["gpu-a", "local"]
    # each row's night is the UTC date it started, whatever the folder is called
    assert (frame["night"] == frame["source_dir"].str.split("/").str[-2]).all()


def test_folders_given_twice_or_nested_are_read_once(history):
    sources = load_sources([history, history / "2026-11-24", history / "2026-11-24" / "gpu-a"])
    assert len(sources.frame) == 12


def test_a_folder_without_sweep_folders_is_a_user_error(tmp_path):
    (tmp_path / "empty" / "deeper").mkdir(parents=True)
    with pytest.raises(UserInputError, match="no runs/ folder"):
        load_sources([tmp_path / "empty"])


def test_reading_in_worker_processes_gives_the_same_frame(history, monkeypatch):
    serial = load_sources([history])
    monkeypatch.setattr(analysis.sources, "PARALLEL_FROM", 1)
    parallel = load_sources([history])
    pd.testing.assert_frame_equal(serial.frame, parallel.frame)
    assert parallel.fingerprints.n_records == 12


def test_repetitions_share_a_scenario_id_and_nothing_else_does():
    frame = records_frame([make_record(model="tiny", stage=s, offload="none", repetition=r)
                           for s in (0, 3) for r in (0, 1)])
    assert frame["run_id"].nunique() == 4 and frame["scenario_id"].nunique() == 2
    first = frame[frame["repetition"] == 0]
    assert (first["scenario_id"] == first["run_id"]).all()  # the run_id of repetition 0


@pytest.mark.parametrize("mutate", [
    lambda d: d.update(schema_version=2), lambda d: d.update(status="great"),
    lambda d: d["ranks"][0].update(params_bytes="100"),
    lambda d: d["ranks"][0].update(params_bytes=True),
    lambda d: d["measurements"].update(final_loss=None),
    lambda d: d["measurements"].update(step_times_s=[0.1, "x"]),
    lambda d: d.update(extra=1), lambda d: d.pop("status"),
    lambda d: d.update(measurements=None), lambda d: d.update(attempt=True),
    lambda d: d.update(duration_s=30),  # an int where a float is due: accepted, as from_json
    lambda d: d["ranks"][1].pop("peak_device_reserved_bytes"),  # a default: accepted
])
def test_the_cached_path_accepts_exactly_what_the_schema_accepts(tmp_path, mutate):
    record = make_record(model="tiny", stage=1, offload="cpu")
    data = record.to_json()
    mutate(data)
    (runs_dir(tmp_path)).mkdir(parents=True)
    (runs_dir(tmp_path) / f"{record.run_id}.json").write_text(json.dumps(data))
    records, bad = load_records(tmp_path)
    for _ in range(2):  # without the frame cache, then with it
        read = folder_frame(tmp_path)
        assert [q.problem for q in read.quarantined] == [q.problem for q in bad]
        assert len(read.frame) == len(records)
        if records:
            pd.testing.assert_frame_equal(read.frame, records_frame(records))


@pytest.mark.parametrize("notes", [(), (1, 1.5)])
def test_the_frame_joined_in_small_batches_is_each_folders_frame_joined(
        history, monkeypatch, notes):
    """However the folders' rows are batched on their way to the frame, and if a column is
    an int in one folder and a float in another (`notes`: pandas joins them then)."""
    for night, note in zip(("2026-11-26", "2026-11-27"), notes, strict=False):
        record = make_record(model="tiny", stage=0, offload="none", night=night)
        data = record.to_json()
        data["scenario"]["params"]["note"] = note
        (runs_dir(history / night)).mkdir(parents=True)
        (runs_dir(history / night) / f"{record.run_id}.json").write_text(json.dumps(data))
    folders = analysis.sources.sweep_dirs(history)
    each = concat_frames([records_frame(load_records(f)[0]).assign(source_dir=str(f))
                          for f in folders])
    for rows in (1, 2, 4, 1 << 16):
        monkeypatch.setattr(results.cache, "BATCH_ROWS", rows)
        pd.testing.assert_frame_equal(load_sources([history]).frame, each)
