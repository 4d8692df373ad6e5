"""`memsweep faults`, the campaign the project ships: its schedule, its input checks, and a
short run of it end to end (the full one: `memsweep faults`, docs/guarantees.md,
"The fault campaign")."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from memsweep.cli import main
from reliability.campaign import schedule
from reliability.cases import DEEPSPEED, KINDS


def test_each_kind_comes_once_before_any_comes_twice():
    kinds = list(KINDS)
    plan = schedule(random.Random(1), 24, 3, kinds)
    stand_in = [k for k, ds in plan if not ds]
    assert len(plan) == 24 and len(stand_in) == 21
    assert set(stand_in) == set(kinds)  # 21 cases, 13 kinds: every one at least once
    assert sorted(k for k, ds in plan if ds) == sorted(DEEPSPEED)
    assert max(Counter(stand_in).values()) <= 2  # in rounds: 13, then 8 more


@pytest.mark.parametrize("args", [["--faults", "0"], ["--faults", "2", "--deepspeed", "3"],
                                  ["--deepspeed", "-1"]])
def test_bad_counts_are_user_errors(tmp_path, capsys, args):
    assert main(["faults", *args, "--out", str(tmp_path / "c")]) == 2
    assert "--faults" in capsys.readouterr().err


def test_a_folder_with_something_in_it_is_refused(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["faults", "--faults", "1", "--deepspeed", "0", "--out", str(tmp_path)]) == 2
    assert "not empty" in capsys.readouterr().err


@pytest.mark.slow
def test_a_short_campaign_prints_its_table_and_passes(tmp_path, capsys):
    assert main(["faults", "--faults", "2", "--deepspeed", "0", "--seed", "7",
                 "--out", str(tmp_path / "c")]) == 0
    text = capsys.readouterr().out
    assert "2 with the stand-in worker" in text and "statuses by fault" in text
    assert "planned runs: 4   records: 4   lost runs: 0   invalid records: 0   " \
           "processes left: 0   as promised: 2/2" in text
    assert text.rstrip().endswith("result: PASS: every planned run ended with exactly one "
                                  "valid record")
    assert (tmp_path / "c" / "campaign.txt").read_text().strip() == text.strip()
