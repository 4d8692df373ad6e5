"""Property-based fuzzing of the sbatch renderer: hostile values never add a line or a command,
and values of the documented forms are always accepted, whole."""

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from slurm.sbatch import render_array_script, render_report_script
from suite.errors import UserInputError

ARRAY = dict(sweep="smoke", n_tasks=3, max_parallel=2, ntasks=2, nodes=1, cpus_per_task=1,
             gpus_per_node=0, mem="4G", time="00:20:00", partition="debug", account="acct",
             qos="q", out_dir="/scratch/out", python="/opt/venv/bin/python", mpi="pmi2")
REPORT = dict(sweep="s", time="00:10:00", partition=None, account=None, qos=None, out_dir="/o",
              python="/p")
CLEAN = render_array_script(**ARRAY)
TEXT = st.one_of(st.text(max_size=70), st.sampled_from(
    ["a\n#SBATCH --uid=0", "$(id)", "`id`", "a'b", "/x\n/y", "../..", "/a/../b", "a b", "\r"]))
KEYS = ["sweep", "partition", "account", "qos", "time", "mem", "out_dir", "python", "mpi"]

# The documented forms (README, the --help and fix texts), restated to check both directions:
# names of 1-64 letters, digits and ._- (no leading dot, no ".."); Slurm's time limits;
# memory as digits with an optional K/M/G/T; absolute paths of letters, digits and ._/+@,=-.
NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
FORMS = {"time": r"\d{1,4}|\d{1,2}:\d\d:\d\d|\d{1,2}-\d{1,2}:\d\d:\d\d",
         "mem": r"\d{1,6}[KMGT]?", "out_dir": r"(/[A-Za-z0-9_+@,=-][A-Za-z0-9._+@,=-]{0,15}){1,4}"}
FORMS["python"] = FORMS["out_dir"]


def form(key: str) -> str:
    return FORMS.get(key, NAME)


def documented(key: str, value: str) -> bool:
    return bool(re.fullmatch(form(key), value)) and ".." not in value


def valid_values(keys):
    return st.sampled_from(keys).flatmap(lambda key: st.tuples(st.just(key), st.from_regex(
        form(key), fullmatch=True).filter(lambda v: ".." not in v)))


@settings(max_examples=400, deadline=None)
@given(key=st.sampled_from(KEYS), value=TEXT)
def test_renderer_refuses_or_renders_one_safe_script(key, value):
    try:
        text = render_array_script(**{**ARRAY, key: value})
    except UserInputError:
        assert not documented(key, value)  # refused: only what the documentation refuses
        return
    lines = text.splitlines()
    # Same number of lines and of #SBATCH directives as the clean script: nothing injected.
    assert len(lines) == len(CLEAN.splitlines())
    assert sum(line.startswith("#SBATCH") for line in lines) == \
        sum(line.startswith("#SBATCH") for line in CLEAN.splitlines())
    assert not any(c in value for c in "\n\r$`'\"; ")  # what got in holds no shell syntax


@settings(max_examples=300, deadline=None)
@given(pair=valid_values(KEYS))
def test_renderer_accepts_every_documented_value_whole(pair):
    key, value = pair
    text = render_array_script(**{**ARRAY, key: value})
    assert value in text and len(text.splitlines()) == len(CLEAN.splitlines())


@settings(max_examples=200, deadline=None)
@given(key=st.sampled_from(["sweep", "partition", "time", "out_dir", "python"]), value=TEXT)
def test_report_renderer_refuses_hostile_values(key, value):
    try:
        text = render_report_script(**{**REPORT, key: value})
    except UserInputError:
        assert not documented(key, value)
        return
    assert "\r" not in text and not any(c in value for c in "\n$`'\"; ")


@settings(max_examples=200, deadline=None)
@given(pair=valid_values(["sweep", "partition", "time", "out_dir", "python"]))
def test_report_renderer_accepts_every_documented_value_whole(pair):
    key, value = pair
    assert value in render_report_script(**{**REPORT, key: value})
