"""A dead rank's ending: the rank, pid, signal and host first; `oom` only with evidence that
names this run (the kernel's log line for one of its pids, or the Slurm step's own report).
Real kills of real ranks: tests/reliability/test_dead_rank.py and test_slurm_cluster.py."""

from __future__ import annotations

import dataclasses
import signal
import subprocess

from executor_support import make_sweep
from test_outcome import NOW, worker_record

from results.load import read_record
from results.schema import replace
from results.store import record_path, write_record
from slurm import outcome
from slurm.kernel_log import KernelLog, oom_killed_pid
from slurm.rank_death import How, Seen, dead_rank_ending, from_mpiexec, from_srun
from slurm.ranks import RankProcess, RankWatch
from slurm.step_log import parse_step_log, read_step_log

SCENARIO = make_sweep().scenarios[0].to_json()
R0 = RankProcess(rank=0, pid=4100, host="n1")
R1 = RankProcess(rank=1, pid=4101, host="n1")
HYDRA = "YOUR APPLICATION TERMINATED WITH THE EXIT STRING: Killed (signal 9)"
KERNEL = ("Memory cgroup out of memory: Killed process 4101 (python) total-vm:1131472kB, "
          "anon-rss:1002240kB, file-rss:14292kB, shmem-rss:5256kB, UID:0 pgtables:2080kB")


def test_the_kernels_oom_lines_name_the_killed_pid():
    assert oom_killed_pid(KERNEL) == 4101
    assert oom_killed_pid("Out of memory: Killed process 77 (cc1plus) total-vm:1kB") == 77
    assert oom_killed_pid("oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,"
                          "mems_allowed=0,oom_memcg=/x,task_memcg=/x,task=python,pid=55,"
                          "uid=0") == 55
    assert oom_killed_pid("oom_reaper: reaped process 55 (python), now anon-rss:0kB") is None
    assert oom_killed_pid("python[24600]: segfault at 55ae88dce ip 00007f1026e93992") is None


def test_an_unreadable_kernel_log_says_why(tmp_path):
    with KernelLog(tmp_path / "no-kmsg") as log:
        assert log.oom_kills() == {} and "is not readable here" in log.problem


def srun(text: str):
    return parse_step_log(text.splitlines())


def test_the_launchers_words_say_how_the_first_rank_ended():
    assert from_mpiexec(9, HYDRA) == How(signum=signal.SIGKILL)
    assert from_mpiexec(137, None) == How(signum=signal.SIGKILL)
    assert from_mpiexec(3, "Traceback ...") == How(code=3)
    assert from_mpiexec(0, HYDRA) is None and from_mpiexec(-9, HYDRA) is None
    assert from_srun(srun("srun: error: n1: task 1: Killed")) == How(signum=9, rank=1,
                                                                     host="n1")
    assert from_srun(srun("srun: error: n1: task 0: Out Of Memory")).signum == signal.SIGKILL
    assert from_srun(srun("srun: error: n2: tasks 0-1: Exited with exit code 3")) == \
        How(code=3, rank=None, host="n2")
    assert from_srun(srun("nothing from srun")) is None


def test_the_rank_the_watch_saw_end_first_comes_before_srun_s_first_line():
    # as srun printed it when rank 1 got SIGTERM (memsweep faults --slurm, ds-sigterm-forward)
    tail = srun("srun: error: vm: task 0: Killed\nsrun: launch/slurm: _step_signal: "
                "Terminating StepId=367.0\nsrun: error: vm: task 1: Terminated\n")
    both = frozenset({0, 1})
    assert from_srun(tail, first=1, watched=both) == How(signum=signal.SIGTERM, rank=1,
                                                         host="vm")
    assert from_srun(tail) == How(signum=signal.SIGKILL, rank=0, host="vm")  # nothing seen
    # On one node of two the watch sees that node's ranks only: its "first" says nothing
    # about the other node's; the line before srun ended the step does
    tail = srun("srun: error: n2: task 1: Killed\nsrun: launch/slurm: _step_signal: "
                "Terminating StepId=3.0\nsrun: error: n1: task 0: Killed\n")
    assert from_srun(tail, first=0, watched=frozenset({0})) == How(signum=signal.SIGKILL,
                                                                   rank=1, host="n2")


# The log of a real-worker case on the two-node cluster (memsweep faults --slurm, seed 1 and
# again here): rank 1 on n2 SIGKILLed in backward, rank 0 on n1 caught gloo's error, printed
# its traceback (~95 lines) and was ended with the step. The tail held only rank 0's line.
TWO_NODE_LOG = [
    "fault-point: rank 1 pid 25880 SIGKILL in backward of step 2",
    "srun: error: n2: task 1: Killed",
    "srun: launch/slurm: _step_signal: Terminating StepId=272.0",
    "worker: rank 0 failed:", "Traceback (most recent call last):",
    *["  File \"deepspeed/runtime/zero/stage3.py\", line 1678, in reduce"] * 95,
    "RuntimeError: [../gloo/transport/tcp/pair.cc:537] Read error [127.0.0.1]:6552: "
    "Connection reset by peer",
    "slurmstepd-n1: error: *** STEP 272.0 ON n1 CANCELLED AT 2026-12-03T08:23:01 ***",
    "srun: error: n1: task 0: Terminated", "srun: Force Terminated StepId=272.0"]


def test_across_nodes_the_dead_rank_is_the_one_that_said_nothing_before_srun_ended_the_step(
        tmp_path):
    log = tmp_path / "run.log"
    log.write_text("\n".join(TWO_NODE_LOG) + "\n")
    assert "task 1: Killed" not in outcome.read_log_tail(log)  # why the whole log is read
    step = read_step_log(log)
    assert step.caught == {0}
    watch_on_n1 = {"first": 0, "watched": frozenset({0})}  # the task's node sees rank 0 end
    assert from_srun(step, **watch_on_n1) == How(signum=signal.SIGKILL, rank=1, host="n2")
    # srun's lines in the other order (n2's report arrived late); the survivor said it failed
    late = srun("worker: rank 0 failed:\nsrun: error: n1: task 0: Terminated\n"
                "srun: error: n2: task 1: Terminated\n"
                "srun: launch/slurm: _step_signal: Terminating StepId=280.0\n")
    assert from_srun(late, **watch_on_n1) == How(signum=signal.SIGTERM, rank=1, host="n2")
    ending = dead_rank_ending(Seen(first_dead=(R0,), ranks=(R0,)),
                              how=from_srun(step, **watch_on_n1), said="srun: ...")
    assert ending.reason.startswith("rank 1 killed by SIGKILL on host n2 (not counted")
    # a rank that failed by itself exits with a code: no rank is named as killed first, even
    # though srun then killed the other one
    crash = srun("worker: rank 1 failed:\nsrun: error: n2: task 1: Exited with exit code 1\n"
                 "srun: launch/slurm: _step_signal: Terminating StepId=9.0\n"
                 "srun: error: n1: task 0: Killed\n")
    assert from_srun(crash, **watch_on_n1) == How(code=1, rank=1, host="n2")
    assert dead_rank_ending(Seen(), how=from_srun(crash, **watch_on_n1), said="x") is None


def test_a_rank_the_launcher_cleaned_up_is_not_the_one_that_died_first():
    # hydra reaps the SIGTERMed rank, then SIGKILLs the others: a watch that woke late may
    # find the SIGTERMed rank reaped and the other one a zombie of SIGKILL, or the reverse
    late = Seen(first_dead=(R0,), ranks=(R0, R1), signals={R0.pid: signal.SIGKILL})
    ending = dead_rank_ending(late, how=How(signum=signal.SIGTERM), said="mpiexec: code 15")
    assert ending.reason.startswith("rank 1 (pid 4101) killed by SIGTERM on host n1; ")
    together = Seen(first_dead=(R0, R1), ranks=(R0, R1), signals={R1.pid: signal.SIGTERM,
                                                                  R0.pid: signal.SIGKILL})
    assert dead_rank_ending(together, how=How(signum=signal.SIGTERM), said="x").reason \
        .startswith("rank 1 (pid 4101) killed by SIGTERM")
    # SIGKILL from the fault and from the clean-up look alike: both stay named
    both = Seen(first_dead=(R0, R1), ranks=(R0, R1), signals={R0.pid: 9, R1.pid: 9})
    assert "(they ended together)" in dead_rank_ending(both, how=How(signum=9), said="x").reason


def test_a_rank_found_late_is_still_watched_and_an_incomplete_watch_names_no_one():
    # a loaded machine: the first look finds rank 0 only (rank 1 not yet exec'd), the next
    # none new; on one machine every rank is here, so the watch keeps looking
    ranks = [subprocess.Popen(["sleep", "60"]) for _ in range(2)]
    launcher = subprocess.Popen(["sleep", "60"])
    found = [RankProcess(rank=i, pid=p.pid, host="here") for i, p in enumerate(ranks)]
    looks = iter([found[:1], found[:1], found])
    watch = RankWatch(world_size=2, find=lambda proc: next(looks, found), every_s=0.01)
    try:
        for _ in range(3):
            watch.wait(launcher, 0.02)
        assert set(watch.ranks) == {p.pid for p in ranks}
    finally:
        watch.close()
        for p in (*ranks, launcher):
            p.kill()
            p.wait()
    # had rank 1 died before it was found, rank 0 (ended by the clean-up) is not named
    alone = Seen(first_dead=(R0,), ranks=(R0,), all_found=False)
    reason = dead_rank_ending(alone, how=How(signum=signal.SIGKILL), said="x").reason
    assert reason.startswith("a rank killed by SIGKILL on host n1 (which one is not known: it "
                             "ended before every rank was found; the first of those found to "
                             "end: rank 0 (pid 4100))")


def test_the_watch_reads_the_signal_of_a_rank_its_launcher_has_not_reaped():
    # real processes: this test is their launcher, and reaps them only after the watch looked
    ranks = [subprocess.Popen(["sleep", "60"]) for _ in range(2)]
    launcher = subprocess.Popen(["sleep", "60"])
    found = [RankProcess(rank=i, pid=p.pid, host="here") for i, p in enumerate(ranks)]
    watch = RankWatch(world_size=2, find=lambda proc: found, every_s=0.1)
    try:
        assert watch.wait(launcher, 0.1) is None  # learns the ranks
        ranks[1].send_signal(signal.SIGTERM)
        while not watch.first_dead:
            watch.wait(launcher, 5)
        assert watch.first_dead == [found[1]] and watch.signals == {ranks[1].pid: 15}
    finally:
        watch.close()
        for p in (*ranks, launcher):
            p.kill()
            p.wait()


def test_a_sigkill_without_evidence_is_failed_and_names_the_rank_first():
    seen = Seen(first_dead=(R1,), ranks=(R0, R1), oom_kills={999: "Killed process 999 (x)"})
    ending = dead_rank_ending(seen, how=How(signum=signal.SIGKILL), said="mpiexec: code 9")
    assert ending.status == "failed" and ending.dead_rank
    assert ending.reason == ("rank 1 (pid 4101) killed by SIGKILL on host n1 (not counted as "
                             "out of memory: the kernel logged no OOM kill of this run's "
                             "ranks); mpiexec: code 9")
    blind = dataclasses.replace(seen, oom_kills={},
                                kernel_problem="/dev/kmsg is not readable here (EPERM)")
    assert "(not counted as out of memory: /dev/kmsg is not readable here (EPERM))" in \
        dead_rank_ending(blind, how=How(signum=9), said="x").reason


def test_the_kernels_line_for_one_of_the_runs_pids_is_oom_with_that_evidence():
    seen = Seen(first_dead=(R1,), ranks=(R0, R1), oom_kills={4101: KERNEL})
    ending = dead_rank_ending(seen, how=How(signum=signal.SIGKILL), said="mpiexec: code 9")
    assert ending.status == "oom"
    assert ending.reason.startswith("rank 1 (pid 4101) killed by SIGKILL on host n1: out of "
                                    "memory, the kernel's OOM killer ended it (evidence: the "
                                    "kernel's log (/dev/kmsg) for pid 4101: ")
    assert KERNEL in ending.reason and ending.reason.endswith("; mpiexec: code 9")


def test_srun_names_the_rank_and_the_step_its_oom():
    seen = Seen(ranks=(R0, R1))  # pids from scontrol listpids; none seen ending first
    how = from_srun(srun("srun: error: n1: task 1: Out Of Memory"))
    ending = dead_rank_ending(seen, how=how, said="srun: task 1: Out Of Memory",
                              step_oom="the Slurm step reported an OOM kill in its cgroup")
    assert ending.status == "oom" and ending.reason.startswith("rank 1 (pid 4101) killed by "
                                                               "SIGKILL on host n1: out of")
    unknown = dead_rank_ending(Seen(), how=how, said="x")
    assert unknown.reason.startswith("rank 1 killed by SIGKILL on host n1 (not counted")


def test_ranks_that_ended_together_are_all_named_and_an_exit_code_is_not_a_death():
    seen = Seen(first_dead=(R0, R1), ranks=(R0, R1))
    ending = dead_rank_ending(seen, how=How(signum=signal.SIGTERM), said="x")
    assert ending.reason == ("rank 0 (pid 4100) or rank 1 (pid 4101) killed by SIGTERM on host "
                             "n1 (they ended together); x")
    # under MPI_Abort the first process to end is not the one that failed: not named
    assert dead_rank_ending(seen, how=How(code=1), said="x") is None
    assert dead_rank_ending(seen, how=None, said="x") is None


def test_a_survivors_own_failed_record_follows_the_dead_rank(tmp_path):
    survivor = replace(worker_record(status="failed"),
                       reason="RuntimeError: [../gloo/transport/tcp/pair.cc:537] Read error")
    write_record(tmp_path, survivor)
    dead = outcome.Ending(status="oom", dead_rank=True, reason="rank 1 (pid 4101) killed by "
                          "SIGKILL on host n1: out of memory (evidence: ...)")
    record = outcome.settle(tmp_path, scenario=SCENARIO, attempt=1, launched=NOW, ending=dead,
                            log=None)
    assert record.status == "oom"
    assert record.reason == f"{dead.reason}; then {survivor.reason}"
    assert read_record(record_path(tmp_path, SCENARIO["run_id"])) == record
    write_record(tmp_path, worker_record(status="ok"))  # a record the worker finished stands
    kept = outcome.settle(tmp_path, scenario=SCENARIO, attempt=1, launched=NOW, ending=dead,
                          log=None)
    assert kept.status == "ok"


def test_the_kernel_names_the_rank_it_killed_whatever_ended_first():
    for first in ((R0, R1), (R0,)):  # the launcher may reap the rank it killed first
        seen = Seen(first_dead=first, ranks=(R0, R1), oom_kills={4101: KERNEL})
        ending = dead_rank_ending(seen, how=How(signum=signal.SIGKILL), said="x")
        assert ending.status == "oom" and ending.reason.startswith(
            "rank 1 (pid 4101) killed by SIGKILL on host n1: out of"), ending.reason
