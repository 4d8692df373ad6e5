"""Promise 2: a dead rank never hangs a run. The other ranks, waiting in a collective, end
within a bounded time; the record is `failed` with the signal and the log tail; the sweep
goes on to its next run.

Locally MPICH's mpiexec ends the other ranks when one dies. Under Slurm, srun's
--kill-on-bad-exit does: tests/slurm/test_slurm_cluster.py (a rank's SIGKILL there).

A SIGKILLed rank is `oom` only when the kernel's log names its pid (slurm/rank_death.py): not
while some other process on the machine is OOM-killed, and yes when the rank itself went over
a real memory cgroup's limit.
"""

from __future__ import annotations

import re
import signal
import socket
import time

import pytest
from reliability_support import (
    in_cgroup,
    memory_cgroup,
    oom_kill_elsewhere,
    oom_kills,
    vmstat_oom_kills,
)

from reliability import cases as fault_cases
from slurm import shm

pytestmark = pytest.mark.slow


def assert_dead_rank_recorded(case, sig: int, seen, since: float) -> None:
    died, *after = case.records()
    assert died is not None and died.status == "failed", seen
    rank, pid = re.search(r"rank (\d) \(pid (\d+)\)", seen.detail).groups()
    # what happened first: the rank, its pid, the signal, the host; then mpiexec's words (the
    # exit status of a rank killed by signal S is S under MPICH; its own report names it)
    named = fault_cases.names_dead_rank(died, int(rank), int(pid), sig.name)
    # jobs.worker only: its survivor may write its gloo error and MPI_Abort before mpiexec
    # reports the signal; then the record is the survivor's alone (a known gap)
    assert named or fault_cases.survivor_aborted_first(case, died), died.reason
    assert f"killed by {sig.name} on host {socket.gethostname()}" in died.reason or not named
    if not case.deepspeed:  # no survivor's record: the launcher's, in mpiexec's words
        assert died.reason.endswith(f"mpiexec: the ranks exited with code {int(sig)}")
        assert died.fingerprint["recorded_by"] == "launcher"
    if named:
        name = "Killed" if sig == signal.SIGKILL else "Terminated"
        assert f"EXIT STRING: {name} (signal {int(sig)})" in died.log_tail
        assert died.log_path
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


def test_a_sigkilled_rank_is_failed_while_another_process_is_oom_killed(make_case):
    # The old rule (a SIGKILL while /proc/vmstat's oom_kill rose is `oom`) blamed the run for
    # anyone's OOM kill on a shared machine. Here one really happens during the run.
    case = make_case("rank-sigkill-beside-an-oom", seed=3)
    faulted = case.run_ids[0]
    proc = case.start(config={faulted: fault_cases.LONG})
    assert fault_cases.inject.wait_for(case.log(faulted), " step 2\n", launcher=proc)
    before = vmstat_oom_kills()
    victim = oom_kill_elsewhere()  # dead, counted by the kernel, while the run goes on
    assert vmstat_oom_kills() > before
    pid = fault_cases.inject.signal_rank(proc.pid, faulted, 1, signal.SIGKILL)
    assert pid and case.finish(proc) == 1
    died, after = case.records()
    assert died.status == "failed", died.reason
    assert fault_cases.names_dead_rank(died, 1, pid, "SIGKILL"), died.reason
    assert "not counted as out of memory: the kernel logged no OOM kill of this run's ranks" \
        in died.reason and str(victim) not in died.reason
    assert after.status == "ok" and case.verify().left == 0


def test_a_rank_over_its_memory_limit_is_oom_with_the_kernels_evidence(make_case):
    # The whole `memsweep run` in a 1 GiB memory cgroup (as a job's --mem); the last rank
    # writes memory from step 2 on until the kernel's OOM killer ends it: the largest there.
    case = make_case("rank-over-memory")
    faulted = case.run_ids[0]
    with memory_cgroup("memsweep-test-run", 2**30) as group:
        rc = case.finish(case.start(config={faulted: {"steps": 600, "hog_at": 2}},
                                    prefix=in_cgroup(group)))
        assert oom_kills(group) >= 1
    oom, after = case.records()
    hog = re.search(r"stand-in: pid (\d+) allocating", case.log(faulted).read_text()).group(1)
    assert rc == 1 and oom.status == "oom", oom.reason
    assert oom.reason.startswith(f"rank 1 (pid {hog}) killed by SIGKILL on host "
                                 f"{socket.gethostname()}: out of memory"), oom.reason
    assert f"the kernel's log (/dev/kmsg) for pid {hog}: " in oom.reason
    assert f"Killed process {hog} (" in oom.reason  # the kernel's own line is the evidence
    assert after.status == "ok" and case.verify().left == 0
