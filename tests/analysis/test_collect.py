import pandas as pd
import pytest

from analysis.collect import collect
from results.frame import COLUMNS
from suite.errors import UserInputError


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_collect_round_trips_with_the_documented_columns(sweep_dir, tmp_path, suffix):
    out = tmp_path / f"runs{suffix}"
    collect([sweep_dir], out)
    back = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out)
    assert list(back.columns) == [*COLUMNS, "source_dir"]
    assert len(back) == 14 and set(back["source_dir"]) == {str(sweep_dir)}
    assert back["status"].value_counts().to_dict() == {"ok": 12, "oom": 1, "failed": 1}
    ok = back[back["status"] == "ok"].sort_values("run_id")
    assert (ok["peak_host_rss_bytes"] > 400 * 1024**2).all()
    assert ok["samples_per_s"].notna().all() and ok["peak_device_bytes"].isna().all()


def test_collect_of_two_folders_names_each_source(sweep_dir, tmp_path):
    from sweepdata import write_sweep

    other = tmp_path / "other"
    write_sweep(other, models=("tiny",), corrupt=False)
    collect([sweep_dir, other], tmp_path / "all.parquet")
    back = pd.read_parquet(tmp_path / "all.parquet")
    assert back["source_dir"].value_counts().to_dict() == {str(sweep_dir): 14, str(other): 7}


def test_parquet_keeps_the_types(sweep_dir, tmp_path):
    collect([sweep_dir], tmp_path / "runs.parquet")
    back = pd.read_parquet(tmp_path / "runs.parquet")
    assert str(back["peak_host_rss_bytes"].dtype) == "Int64"
    assert str(back["started_at"].dt.tz) == "UTC"


@pytest.mark.parametrize("name", ["runs.xlsx", "runs", "runs.json"])
def test_unknown_suffix_is_a_user_error_naming_the_fix(sweep_dir, tmp_path, name):
    with pytest.raises(UserInputError, match=r"\.parquet or \.csv|\.parquet, \.csv"):
        collect([sweep_dir], tmp_path / name)
    assert not (tmp_path / name).exists()


def test_a_folder_without_runs_is_a_user_error(tmp_path):
    with pytest.raises(UserInputError, match="no runs/ folder"):
        collect([tmp_path], tmp_path / "x.csv")
