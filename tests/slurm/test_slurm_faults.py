"""`memsweep faults --slurm` on the real single-node cluster, its first four faults: a rank
SIGKILLed from outside, the task process SIGKILLed, `scancel`, `--time` expiry (each in a
sweep of 2 runs, the second must still run). The test reads the records itself rather than
trusting the campaign's verdict alone. The full campaign (`--faults 40`, two clusters, the
real worker) is run by hand: docs/guarantees.md."""

from __future__ import annotations

import re

import pytest
from cluster_support import require_cluster

from memsweep.cli import main
from results.load import load_records
from suite.sweep import load_sweep

pytestmark = pytest.mark.slurm


def test_four_slurm_faults_end_as_promised_with_no_run_lost_and_nothing_left(tmp_path, capsys):
    require_cluster()
    out = tmp_path / "c"
    rc = main(["faults", "--slurm", "--faults", "4", "--seed", "5", "--out", str(out)])
    text = capsys.readouterr().out
    print(text)
    assert rc == 0, text
    assert "planned runs: 8   records: 8   lost runs: 0   invalid records: 0   " \
           "processes left: 0   as promised: 4/4" in text
    assert re.search(r"real-worker cases: 0   false statuses: 0   Slurm jobs and processes "
                     r"left: 0   wall time: \d+ s", text)
    folders = sorted(p for p in out.iterdir() if p.name[:2].isdigit())
    assert [p.name for p in folders] == ["01-rank-sigkill", "02-task-sigkill", "03-scancel",
                                         "04-time-limit"]
    found = []
    for folder in folders:
        records, bad = load_records(folder / "out")
        by_id = {r.run_id: r for r in records}
        faulted, then = (by_id[s.run_id] for s in load_sweep(folder / "sweep.toml").scenarios)
        assert not bad and len(records) == 2
        assert then.status == "ok", then.reason  # the sweep went on
        found.append(faulted)
    killed, task, cancelled, timeout = found
    assert (killed.status, task.status, cancelled.status, timeout.status) == \
        ("failed", "failed", "cancelled", "timeout")
    # the dead rank first and its signal, never `oom` (the kernel did not kill it for memory)
    assert re.match(r"rank [01] (\(pid \d+\) )?killed by SIGKILL on host \S+ \(not counted as "
                    r"out of memory: ", killed.reason), killed.reason
    assert task.fingerprint["recorded_by"] == "reconcile"  # its task could not write it
    assert "SIGTERM" in cancelled.reason
    assert "time limit" in timeout.reason and "KeyboardInterrupt" in timeout.log_tail
    assert {r.attempt for r in found} == {1}
