"""Golden-file and hostile-input tests of the rendered sbatch scripts."""

import os
from pathlib import Path

import pytest

from slurm.profile import Profile, load_profile
from slurm.sbatch import render_array_script, render_report_script
from suite.errors import UserInputError

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"

ARRAY = dict(sweep="smoke", n_tasks=14, max_parallel=2, ntasks=2, nodes=1, cpus_per_task=1,
             gpus_per_node=0, mem="4G", time="00:20:00", partition="debug", account=None,
             qos=None, out_dir="/scratch/memsweep/smoke", python="/opt/venv/bin/python",
             mpi="pmi2")
REPORT = dict(sweep="smoke", time="00:10:00", partition="debug", account=None, qos=None,
              out_dir="/scratch/memsweep/smoke", python="/opt/venv/bin/python")


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    was = path.read_text() if path.exists() else None
    if text == was:
        return
    if os.environ.get("MEMSWEEP_UPDATE_GOLDEN"):
        # Still a failure: an update is accepted by a review of the diff and a rerun without it.
        path.write_text(text)
        pytest.fail(f"golden file updated ({path}): review `git diff`, then rerun without "
                    f"MEMSWEEP_UPDATE_GOLDEN")
    pytest.fail(f"rendering changed; review and rerun with MEMSWEEP_UPDATE_GOLDEN=1 to accept "
                f"({path})")


def test_array_script_golden():
    check_golden("array.sh", render_array_script(**ARRAY))


def test_gpu_array_script_golden():
    check_golden("array_gpu.sh", render_array_script(**{
        **ARRAY, "n_tasks": 3, "max_parallel": None, "ntasks": 8, "nodes": 2, "cpus_per_task": 8,
        "gpus_per_node": 4, "mem": None, "partition": "gpu-h100", "account": "ml-bench",
        "qos": "high", "mpi": "pmix"}))


def test_report_script_golden():
    check_golden("report.sh", render_report_script(**REPORT))


HOSTILE = ["a\nb", "x\n#SBATCH --uid=0", "a'b", 'a"b', "$(reboot)", "`id`", "../x", "a b",
           "a;b", "", "x" * 65]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("key", ["sweep", "partition", "account", "qos"])
def test_hostile_names_are_refused(key, value):
    with pytest.raises(UserInputError, match="letters, digits"):
        render_array_script(**{**ARRAY, key: value})


@pytest.mark.parametrize("value", ["/x\n#SBATCH --uid=0", "/a b", "/$(id)", "relative/dir",
                                   "/a/../../etc", "/a'b", "/x;y"])
@pytest.mark.parametrize("key", ["out_dir", "python"])
def test_hostile_paths_are_refused(key, value):
    with pytest.raises(UserInputError, match="absolute path"):
        render_array_script(**{**ARRAY, key: value})
    with pytest.raises(UserInputError, match="absolute path"):
        render_report_script(**{**REPORT, key: value})


@pytest.mark.parametrize("key, value", [("time", "1h"), ("time", "1:00\n#SBATCH -A x"),
                                        ("mem", "4 G"), ("mem", "lots")])
def test_bad_time_and_mem_are_refused_with_the_fix(key, value):
    with pytest.raises(UserInputError, match="fix: write"):
        render_array_script(**{**ARRAY, key: value})


def test_header_has_only_our_directives():
    text = render_array_script(**ARRAY)
    header = [line for line in text.splitlines() if line.startswith("#SBATCH")]
    keys = [line.split("=", 1)[0] for line in header]
    assert keys == ["#SBATCH --job-name", "#SBATCH --array", "#SBATCH --nodes", "#SBATCH --ntasks",
                    "#SBATCH --cpus-per-task", "#SBATCH --mem", "#SBATCH --time",
                    "#SBATCH --partition", "#SBATCH --output", "#SBATCH --signal"]


def test_shipped_profiles_load():
    paths = sorted((REPO / "slurm" / "profiles").glob("*.toml"))
    assert len(paths) >= 2, paths  # cpu-local and at least one GPU partition
    for path in paths:
        assert load_profile(path).name == path.stem


@pytest.mark.parametrize("body, key", [
    ('[profile]\nname="x"\npartiton="a"\n', "profile.partiton"),
    ('[profile]\nname="x"\ntime="soon"\n', "profile.time"),
    ('[profile]\nname="x"\ncpus_per_task=0\n', "profile.cpus_per_task"),
    ('[profile]\nname="x"\npartition="a\\nb"\n', "profile.partition"),
    ('[profile]\nname="x"\n[profile.peak_tflops]\nbf16="fast"\n', "profile.peak_tflops.bf16"),
    ('[other]\n', "profile"),
])
def test_bad_profile_names_file_and_key(tmp_path, body, key):
    path = tmp_path / "p.toml"
    path.write_text(body)
    with pytest.raises(UserInputError) as err:
        load_profile(path)
    assert str(path) in str(err.value) and f"key '{key}'" in str(err.value)


def test_command_line_overrides_profile():
    merged = Profile(name="p", partition="a", time="01:00:00").merged(partition="b", time=None)
    assert (merged.partition, merged.time) == ("b", "01:00:00")
