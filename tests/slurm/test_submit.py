"""`memsweep submit` without a cluster: the scripts it renders, its choices, its refusals.

(What it does on a real cluster: test_slurm_cluster.py.)
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from executor_support import REPO, sweep_doc, to_toml
from test_sbatch import ARRAY, REPORT, check_golden

from memsweep.cli import main
from slurm import scheduler
from slurm.profile import Profile
from slurm.sbatch import array_spec, render_array_script, render_report_script
from slurm.submit import expand_out, signal_lead_s, time_seconds
from suite.errors import UserInputError


@pytest.mark.parametrize(("indices", "k", "spec"), [
    (range(14), None, "0-13"), (range(14), 2, "0-13%2"), ([3, 5, 9], 2, "3,5,9%2"),
    ([7, 1, 2, 3], None, "1-3,7"), ([0], 1, "0%1"), ([5, 4, 4], None, "4-5"),
])
def test_array_spec_compresses_runs_of_indices(indices, k, spec):
    assert array_spec(indices, k) == spec


@pytest.mark.parametrize("indices", [[], [-1], [1.0]])
def test_array_spec_refuses_what_is_no_index(indices):
    with pytest.raises(ValueError):
        array_spec(indices, None)


def test_resume_array_script_golden():
    check_golden("array_resume.sh", render_array_script(**{**ARRAY, "indices": (3, 5, 9),
                                                           "signal_lead_s": 30}))


def test_report_script_with_memory_golden():
    check_golden("report_mem.sh", render_report_script(**{**REPORT, "mem": "4G"}))


def test_indices_beyond_the_plan_and_bad_leads_are_refused():
    with pytest.raises(ValueError, match="beyond the plan"):
        render_array_script(**{**ARRAY, "indices": (13, 14)})
    for lead in (0, -5, 1.5):
        with pytest.raises(ValueError, match="signal_lead_s"):
            render_array_script(**{**ARRAY, "signal_lead_s": lead})


@pytest.mark.parametrize("mem", ["4 G", "x\n#SBATCH --uid=0", "$(id)"])
def test_hostile_report_memory_is_refused(mem):
    with pytest.raises(UserInputError, match="memory size"):
        render_report_script(**{**REPORT, "mem": mem})


@pytest.mark.parametrize(("value", "seconds"), [
    ("1", 60), ("90", 5400), ("1:30", 90), ("01:30:00", 5400), ("2-0", 172800),
    ("1-02", 93600), ("1-02:03", 93780), ("1-02:03:04", 93784),
])
def test_slurm_time_formats_in_seconds(value, seconds):
    assert time_seconds(value) == seconds


@pytest.mark.parametrize(("limit", "lead"), [("1", 1), ("2", 30), ("3", 60), ("5", 120),
                                             ("02:00:00", 120)])
def test_the_warning_never_comes_in_the_first_half_of_the_limit(limit, lead):
    # Slurm sends it between LEAD and LEAD + 30 s before the limit.
    assert signal_lead_s(limit) == lead
    assert time_seconds(limit) - lead - 30 >= time_seconds(limit) // 2 or lead == 1


def test_out_placeholders_name_one_folder_per_partition_and_night():
    p = Profile(name="h100", partition="gpu-h100")
    assert expand_out("/n/{partition}/{date}", profile=p, today=date(2026, 3, 1)) == \
        "/n/gpu-h100/2026-03-01"
    assert expand_out("/n/{profile}", profile=Profile()) == "/n/default"
    for bad in ("/n/{host}", "/n/{", "/n/{0}"):
        with pytest.raises(UserInputError, match="placeholder"):
            expand_out(bad, profile=p)


@pytest.fixture
def sweep_file(tmp_path) -> Path:
    path = tmp_path / "sweep.toml"
    path.write_text(to_toml(sweep_doc(zero_stage=[0, 1, 2])))
    return path


def test_dry_run_prints_both_scripts_and_touches_neither_disk_nor_slurm(tmp_path, sweep_file,
                                                                       capsys):
    out = tmp_path / "out"
    before = sum(scheduler.CALLS.values())
    assert main(["submit", str(sweep_file), "--out", str(out), "--dry-run",
                 "--profile", str(REPO / "slurm/profiles/cpu-local.toml"), "--time", "45",
                 "--mpi", "pmix"]) == 0
    text = capsys.readouterr().out
    assert not out.exists() and sum(scheduler.CALLS.values()) == before
    assert "3 of 3 runs as one job array" in text
    assert f"--- {out}/slurm-array.sh (sbatch) ---" in text
    assert "#SBATCH --array=0-2%1\n" in text and "#SBATCH --time=45\n" in text  # option wins
    assert "#SBATCH --partition=debug\n" in text and "#SBATCH --mem=4G\n" in text  # profile
    assert "#SBATCH --signal=B:USR1@120\n" in text and "MEMSWEEP_MPI=pmix\n" in text
    assert f"memsweep status {out} --reconcile" in text  # the report job reconciles first
    assert text.count("#!/bin/bash") == 2


def test_the_mpi_plugin_follows_mpi4pys_library(tmp_path, sweep_file, capsys):
    assert main(["submit", str(sweep_file), "--out", str(tmp_path / "o"), "--dry-run"]) == 0
    assert "MEMSWEEP_MPI=pmi2\n" in capsys.readouterr().out  # the PyPI mpich wheel here


@pytest.mark.parametrize(("args", "message"), [
    ([], "either a sweep file or --resume"),
    (["SWEEP", "--resume", "/tmp"], "either a sweep file or --resume"),
    (["--resume", "DIR", "--out", "/x"], "--resume DIR already names the output folder"),
    (["--resume", "DIR"], "no plan.json here"),
    (["SWEEP", "--partition", "a;b"], "--partition 'a;b' is not a valid name"),
    (["SWEEP", "--time", "1h"], "not a Slurm time limit"),
    (["SWEEP", "--out", "/tmp/a b"], "cannot go into a batch script"),
    (["SWEEP", "--out", "/tmp/{night}"], "unknown placeholder"),
    (["SWEEP", "--max-parallel", "0"], "key '--max-parallel': must be a whole number"),
    (["SWEEP", "--gpus-per-node", "-1"], "key '--gpus-per-node': must be a whole number"),
    (["SWEEP", "--mem", "lots"], "key '--mem'"),
    (["SWEEP", "--mpi", "pmi2;id"], "not a valid name"),
])
def test_bad_requests_exit_2_and_name_the_fix(tmp_path, sweep_file, capsys, args, message):
    args = [str(sweep_file) if a == "SWEEP" else str(tmp_path) if a == "DIR" else a
            for a in args]
    assert main(["submit", *args, "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert message in err and "fix:" in err


def test_scheduler_calls_carry_no_enclosing_allocation():
    env = {"PATH": "/bin", "HOME": "/root", "SLURM_JOB_ID": "7", "SLURM_ARRAY_TASK_ID": "3",
           "SBATCH_PARTITION": "x", "SLURM_CONF": "/etc/site/slurm.conf", "SRUN_CPUS_PER_TASK": "2",
           "SALLOC_ACCOUNT": "a", "STAND_IN_BEHAVIOUR": "ok"}
    assert scheduler.clean_env(env) == {"PATH": "/bin", "HOME": "/root",
                                        "SLURM_CONF": "/etc/site/slurm.conf",
                                        "STAND_IN_BEHAVIOUR": "ok"}


def test_a_machine_without_slurm_gets_an_environment_problem_naming_up_sh(tmp_path):
    from suite.errors import EnvironmentProblem

    with pytest.raises(EnvironmentProblem, match="slurm/cluster/up.sh") as err:
        scheduler.jobs(["12"], environ={"PATH": str(tmp_path)})
    assert err.value.exit_code == 3
    assert scheduler.jobs([], environ={"PATH": str(tmp_path)}) == []  # nothing to ask: no call


def test_the_nightly_scrontab_lines_are_valid_submit_commands():
    import shlex

    from memsweep.cli import build_parser

    lines = (REPO / "slurm/nightly/memsweep.scrontab").read_text().splitlines()
    entries = [line for line in lines if line and not line.startswith("#")]
    assert entries, "the template holds at least one entry"
    for entry in entries:
        fields = entry.split(None, 5)
        assert len(fields) == 6, f"cron time and a command: {entry!r}"
        argv = shlex.split(fields[5])
        assert Path(argv[0]).name == "memsweep"
        args = build_parser().parse_args(argv[1:])
        assert args.command == "submit" and args.profile and "{partition}" in args.out
        assert "{date}" in args.out
        for shipped in (args.profile, args.sweep):
            path = Path(shipped.replace("/opt/memsweep", str(REPO)))
            assert path.exists(), f"{shipped} named by the template is not shipped"


def test_the_cluster_tests_fail_rather_than_skip_without_slurm(tmp_path, monkeypatch):
    from cluster_support import require_cluster

    monkeypatch.setenv("PATH", str(tmp_path))  # no sinfo, no sbatch
    with pytest.raises(pytest.fail.Exception, match="slurm/cluster/up.sh"):
        require_cluster()
