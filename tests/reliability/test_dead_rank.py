"""Promise 2: a dead rank never hangs a run. The other ranks, waiting in a collective, end
within a bounded time; the record is `failed` with the signal and the log tail; the sweep
goes on to its next run.

Locally MPICH's mpiexec ends the other ranks when one dies. Under Slurm, srun's
--kill-on-bad-exit does: tests/slurm/test_slurm_cluster.py (a rank's SIGKILL there).
"""

from __future__ import annotations

import signal
import time

import pytest
from reliability_support import killed_status

from reliability import cases as fault_cases
from slurm import shm

pytestmark = pytest.mark.slow


def assert_dead_rank_recorded(case, sig: int, seen, since: float) -> None:
    died, *after = case.records()
    assert died is not None and died.status == killed_status(died), seen
    name = "Killed" if sig == signal.SIGKILL else "Terminated"
    # MPICH's exit status of a rank killed by signal S is S; its own report names the signal.
    assert died.reason.startswith(f"the ranks exited with code {int(sig)}")
    assert f"EXIT STRING: {name} (signal {int(sig)})" in died.log_tail
    assert died.log_path and died.fingerprint["recorded_by"] == "launcher"
    assert all(r is not None and r.status == "ok" for r in after)  # the sweep went on
    assert case.verify().left == 0  # no rank of the dead run is left waiting
    # nor its shared memory: the dead rank's MPICH segment is removed, and the log says so
    assert shm.leftovers(since) == []
    assert "shared-memory file(s) its killed ranks left" in case.log(died.run_id).read_text()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_rank_killed_in_a_collective_ends_the_run_at_once(make_case, sig):
    case = make_case("rank-signal", seed=int(sig))
    since = time.time()
    seen = fault_cases.rank_signal(case, sig)  # the faulted run would take 30 s unharmed
    assert_dead_rank_recorded(case, sig, seen, since)
    # The peer did not wait out its 600 steps: the kill ended the run (read in its log).
    assert fault_cases.cut_short(case, case.run_ids[0]), seen


def test_a_deepspeed_rank_killed_mid_step_ends_the_run(make_case):
    # jobs.worker (tiny model, 2 ranks, gloo), one run: that the sweep goes on is shown above
    # and by `memsweep faults`, whose DeepSpeed rank-sigkill case has a run after it.
    case = make_case("ds-rank-sigkill", deepspeed=True)
    assert len(case.run_ids) == 1
    since = time.time()
    seen = fault_cases.rank_signal(case, signal.SIGKILL)
    assert "a timed step" in seen.detail, seen
    assert_dead_rank_recorded(case, signal.SIGKILL, seen, since)
    died = case.records()[0]
    # it was killed in the timed steps (the log itself: two ranks' tracebacks may fill the tail)
    assert "worker: timing" in case.log(died.run_id).read_text()
    assert fault_cases.cut_short(case, died.run_id), seen  # its timed steps never finished
