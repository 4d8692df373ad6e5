"""The worker's command line: what it refuses before any rank starts (exit 2, no record)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from suite.plan_table import plan_json
from suite.sweep import parse_sweep

REPO = Path(__file__).resolve().parents[2]


def worker(*args: str):
    return subprocess.run([sys.executable, "-m", "jobs.worker", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def plan(tmp_path) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(plan_json(parse_sweep({"sweep": {"name": "cli"}, "axes": {}})))
    return path


@pytest.mark.parametrize(("args", "message"), [
    (["--index", "5"], "outside the plan's 1 scenarios"),
    (["--run-id", "feedfeedfeedfeed"], "no scenario with run_id"),
    (["--index", "0", "--attempt", "0"], "must be 1 or more"),
])
def test_a_bad_choice_exits_2_without_a_record(tmp_path, plan, args, message):
    done = worker("--plan", str(plan), "--out", str(tmp_path), *args)
    assert done.returncode == 2 and message in done.stderr
    assert not (tmp_path / "runs").exists()


def test_a_missing_plan_exits_2(tmp_path):
    done = worker("--plan", str(tmp_path / "nope.json"), "--index", "0", "--out", str(tmp_path))
    assert done.returncode == 2 and "no such plan file" in done.stderr


def test_run_id_and_index_are_one_or_the_other(tmp_path, plan):
    assert worker("--plan", str(plan), "--out", str(tmp_path)).returncode == 2
    assert worker("--plan", str(plan), "--out", str(tmp_path), "--index", "0",
                  "--run-id", "x").returncode == 2
