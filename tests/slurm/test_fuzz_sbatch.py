"""Property-based fuzzing of the sbatch renderer: hostile values never add a line or a command."""

from hypothesis import given, settings
from hypothesis import strategies as st

from slurm.sbatch import render_array_script, render_report_script
from suite.errors import UserInputError

ARRAY = dict(sweep="smoke", n_tasks=3, max_parallel=2, ntasks=2, nodes=1, cpus_per_task=1,
             gpus_per_node=0, mem="4G", time="00:20:00", partition="debug", account="acct",
             qos="q", out_dir="/scratch/out", python="/opt/venv/bin/python", mpi="pmi2")
CLEAN = render_array_script(**ARRAY)
TEXT = st.one_of(st.text(max_size=70), st.sampled_from(
    ["a\n#SBATCH --uid=0", "$(id)", "`id`", "a'b", "/x\n/y", "../..", "/a/../b", "a b", "\r"]))
KEYS = ["sweep", "partition", "account", "qos", "time", "mem", "out_dir", "python", "mpi"]


@settings(max_examples=400, deadline=None)
@given(key=st.sampled_from(KEYS), value=TEXT)
def test_renderer_refuses_or_renders_one_safe_script(key, value):
    try:
        text = render_array_script(**{**ARRAY, key: value})
    except UserInputError:
        return
    lines = text.splitlines()
    # Same number of lines and of #SBATCH directives as the clean script: nothing injected.
    assert len(lines) == len(CLEAN.splitlines())
    assert sum(line.startswith("#SBATCH") for line in lines) == \
        sum(line.startswith("#SBATCH") for line in CLEAN.splitlines())
    assert not any(c in value for c in "\n\r$`'\"; ")  # what got in holds no shell syntax


@settings(max_examples=200, deadline=None)
@given(key=st.sampled_from(["sweep", "partition", "time", "out_dir", "python"]), value=TEXT)
def test_report_renderer_refuses_hostile_values(key, value):
    try:
        base = dict(sweep="s", time="00:10:00", partition=None, account=None, qos=None,
                    out_dir="/o", python="/p")
        text = render_report_script(**{**base, key: value})
    except UserInputError:
        return
    assert "\r" not in text and not any(c in value for c in "\n$`'\"; ")
