"""The faults of `memsweep faults` (reliability/campaign.py), one function each.

Each takes a Case (its sweep, output folder and launcher), injects its fault from outside
(reliability/inject.py), does what a user would do next (often `--resume`) and says how the
faulted run ended and whether that is what memsweep promises. The campaign then checks
what every fault must leave: one valid record per planned run, no process behind.
"""

from __future__ import annotations

import shutil
import signal
import time
from dataclasses import dataclass
from datetime import timedelta

from reliability import inject
from reliability.case import Case
from results.schema import RunRecord, replace

LONG = {"steps": 600}  # the faulted run of a stand-in sweep: ~30 s unless a fault ends it


@dataclass(frozen=True, kw_only=True)
class Seen:
    faulted: str  # how the faulted run ended, e.g. "failed a1 -> ok a2 (--resume)"
    expected: bool
    detail: str = ""
    false_status: bool = False  # the faulted run's status is not the one the fault must give


def _st(record: RunRecord | None) -> str:
    return f"{record.status} a{record.attempt}" if record else "no record"


def _started(case: Case, proc, run_id: str, step: int) -> bool:
    """Wait until the run's ranks are in step `step` (the stand-in) or timing (jobs.worker)."""
    log = case.log(run_id)
    if case.deepspeed:
        ok = inject.wait_for(log, "worker: timing", launcher=proc, timeout_s=300)
        time.sleep(case.rng.uniform(0.0, 1.5))  # somewhere in the timed steps
        return ok
    return inject.wait_for(log, f" step {step}\n", launcher=proc, timeout_s=60)


def rank_signal(case: Case, sig: int) -> Seen:
    """A rank gets `sig` mid-step; the run ends at once, recorded, and the sweep goes on."""
    faulted = case.run_ids[0]
    # A stopped rank must be what keeps the run past its timeout: else it ends in time.
    proc = case.start(config={} if sig == signal.SIGSTOP else {faulted: LONG})
    rank, step = case.rng.randrange(2), case.rng.randint(2, 6)
    pid = _started(case, proc, faulted, step) and inject.signal_rank(proc.pid, faulted, rank, sig)
    rc = case.finish(proc)
    found = case.records()
    name = signal.Signals(sig).name
    killed = found[0]
    # The fault, not the run's own end, ended it: its ranks never got to their last step. A
    # time bound would say the same only on a quiet machine.
    ok = bool(pid) and rc == 1 and killed is not None and cut_short(case, faulted)
    if sig == signal.SIGSTOP:  # a stopped rank: the run hangs until its timeout
        ok = ok and killed.status in (("timeout", "failed") if case.deepspeed else ("timeout",))
    else:  # never `oom`: the kernel did not kill it for memory; the dead rank named first
        ok = ok and killed.status == "failed" and (
            names_dead_rank(killed, rank, pid, name) or survivor_aborted_first(case, killed))
    ok = ok and all(r is not None and r.status == "ok" for r in found[1:])
    where = f"step {step}" if not case.deepspeed else "a timed step"
    return Seen(faulted=_st(killed), expected=ok,
                detail=f"rank {rank} (pid {pid}) {name} at {where}; "
                       f"run ended after {killed.duration_s:.1f} s" if killed else "")


def cut_short(case: Case, run_id: str) -> bool:
    """The run's log shows it ended before its work was done: jobs.worker never finished its
    timed steps; the stand-in's ranks never printed LONG's last step."""
    text = case.log(run_id).read_text(errors="replace") if case.log(run_id).exists() else ""
    if case.deepspeed:
        return "worker: timing" in text and "worker: timed steps done" not in text
    return " step 2\n" in text and f" step {LONG['steps']}\n" not in text


def names_dead_rank(record: RunRecord, rank: int, pid: int | None, signal_name: str) -> bool:
    """The record's reason starts with the rank, its pid and the signal (slurm/rank_death.py).
    Where the launcher's cleanup ended the other ranks before the watch woke (a loaded
    machine), the reason names every rank that ended together: this one must be among them."""
    first, sep, _ = (record.reason or "").partition(f" killed by {signal_name} on host ")
    named = f"rank {rank} (pid {pid})"
    return bool(sep) and (first == named or (named in first.split(" or ")))


def survivor_aborted_first(case: Case, record: RunRecord) -> bool:
    """jobs.worker only: the survivor saw its peer vanish (gloo), wrote its own failed record
    and called MPI_Abort before mpiexec reported the dead rank's signal. The record then
    keeps the survivor's error alone (a known gap: mpiexec no longer says which rank died)."""
    return case.deepspeed and record.fingerprint.get("recorded_by") != "launcher" and \
        "MPI_Abort" in case.log(record.run_id).read_text(errors="replace")


def worker_crash(case: Case) -> Seen:
    faulted, step = case.run_ids[0], case.rng.randint(1, 5)
    rc = case.finish(case.start(config={faulted: {"crash_at": step}}))
    crashed, *rest = case.records()
    ok = rc == 1 and crashed is not None and crashed.status == "failed" and \
        "stand-in crashed on purpose" in (crashed.log_tail or "") and \
        all(r and r.status == "ok" for r in rest)
    return Seen(faulted=_st(crashed), expected=ok,
                detail=f"last rank raised at step {step}; traceback in the record's log tail")


def launcher_interrupt(case: Case) -> Seen:
    """Ctrl-C (or SIGTERM) to `memsweep run` mid-run, then the same command with --resume."""
    faulted = case.run_ids[0]
    sig = case.rng.choice((signal.SIGINT, signal.SIGTERM))
    proc = case.start(config={faulted: LONG})
    hit = _started(case, proc, faulted, case.rng.randint(2, 6))
    if hit:
        inject.interrupt(proc, sig)
    rc = case.finish(proc)
    first = case.records()
    left = inject.leftovers(str(case.folder), wait_s=1.0)
    again = case.finish(case.start("--resume"))
    final = case.records()
    ok = hit and rc == 128 + sig and first[0] is not None and first[0].status == "cancelled" \
        and all(r is None for r in first[1:]) and not left and again == 0 \
        and [(r and r.status, r and r.attempt) for r in final] == \
        [("ok", 2)] + [("ok", 1)] * (len(final) - 1)
    return Seen(faulted=f"{_st(first[0])} -> {_st(final[0])} (--resume)", expected=ok,
                detail=f"{signal.Signals(sig).name} to the launcher: exit {rc}, "
                       f"{len(left)} process(es) left; --resume: exit {again}")


def launcher_kill(case: Case) -> Seen:
    """SIGKILL to `memsweep run` mid-run (kill -9, or the OOM killer taking the launcher): it
    cannot record the run, but nothing of the run may go on without it; --resume runs it."""
    faulted = case.run_ids[0]
    proc = case.start(config={faulted: LONG})
    hit = _started(case, proc, faulted, case.rng.randint(2, 6))
    if hit:
        proc.kill()  # the launcher alone: its ranks are in sessions of their own
    rc = case.finish(proc)
    first = case.records()
    left = inject.leftovers(str(case.folder), wait_s=10.0)
    again = case.finish(case.start("--resume"))
    final = case.records()
    ok = hit and rc == -signal.SIGKILL and all(r is None for r in first) and not left \
        and again == 0 and all(r is not None and r.status == "ok" for r in final)
    return Seen(faulted=f"{_st(first[0])} -> {_st(final[0])} (--resume)", expected=ok,
                detail=f"SIGKILL to the launcher: exit {rc}, {len(left)} process(es) left "
                       f"after 10 s; --resume: exit {again}")


def damaged_record(case: Case, how: str) -> Seen:
    """A finished record is damaged (corrupt or truncated): the loader quarantines it, never
    reads it as a record, and --resume runs the run again."""
    first = case.finish(case.start())
    path = case.record_path(case.run_ids[0])
    kept = case.record_path(case.run_ids[1]).read_bytes()
    if how == "corrupt":
        what = inject.corrupt(path, case.rng)
    else:
        what = f"cut to {inject.truncate(path, case.rng)} bytes"
    records, bad = case.load()
    caught = [q.path for q in bad] == [str(path)] and case.run_ids[0] not in \
        {r.run_id for r in records}
    again = case.finish(case.start("--resume"))
    final = case.records()
    ok = first == 0 and caught and again == 0 and [_st(r) for r in final] == \
        ["ok a1"] * len(final) and case.record_path(case.run_ids[1]).read_bytes() == kept
    return Seen(faulted=f"quarantined -> {_st(final[0])} (--resume)" if caught
                else f"NOT quarantined ({what})", expected=ok,
                detail=f"{what}: quarantined by the loader; --resume ran it again")


def stale_record(case: Case) -> Seen:
    """Records of earlier attempts are left in the folder, an ok one of this attempt's number
    too (from a launch an hour ago); the run's ranks die: the run is failed, never ok."""
    faulted = case.run_ids[0]
    earlier = case.ok_record(faulted, attempt=1, age=timedelta(hours=2))
    case.plant(earlier)
    proc = case.start(config={faulted: LONG})
    hit = _started(case, proc, faulted, case.rng.randint(2, 6))
    case.plant(replace(earlier, attempt=2))  # this attempt's number, started long ago
    pid = hit and inject.signal_rank(proc.pid, faulted, 1, signal.SIGKILL)
    rc = case.finish(proc)
    record, *rest = case.records()
    ok = bool(pid) and rc == 1 and record is not None and record.status == "failed" \
        and names_dead_rank(record, 1, pid, "SIGKILL") and record.attempt == 2 \
        and all(r and r.status == "ok" for r in rest)
    return Seen(faulted=_st(record), expected=ok,
                detail="ok records of attempts 1 and 2 planted (2 h old), then rank 1 SIGKILL: "
                       "neither taken for the run")


def writer_kill(case: Case) -> Seen:
    """Rank 0 is SIGKILLed at a random moment while it writes its (32 MB) record."""
    faulted, pad = case.run_ids[0], 32 * 2**20
    proc = case.start(config={faulted: {"pad_bytes": pad}})
    hit = inject.wait_for(case.log(faulted), "rank 0 writing its record", launcher=proc,
                          poll_s=0.002, timeout_s=60)
    delay = case.rng.uniform(0.0, 0.3)
    time.sleep(delay)
    pid = hit and inject.signal_rank(proc.pid, faulted, 0, signal.SIGKILL)
    rc = case.finish(proc)
    records, bad = case.load()
    record, *rest = case.records()
    temps = sorted(p.name for p in case.record_path(faulted).parent.glob(".*.tmp"))
    ok = not bad and record is not None and record.status in ("ok", "failed") and \
        (record.status != "ok" or len(record.log_tail or "") == pad) and rc in (0, 1) and \
        all(r and r.status == "ok" for r in rest)
    when = "after its rename: the whole record stands" if record and record.status == "ok" \
        else "before its rename: the launcher recorded the death"
    return Seen(faulted=_st(record), expected=ok,
                detail=f"SIGKILL {delay * 1000:.0f} ms into the write (pid {pid}), {when}; "
                       f"{len(temps)} temp file(s) left, ignored by the loader")


def read_only_folder(case: Case) -> Seen:
    """The output folder is read-only: exit 3 before anything runs; writable again: all run."""
    prefix = inject.read_only_prefix()
    case.out.mkdir(parents=True)
    case.out.chmod(0o555)
    try:
        rc = case.finish(case.start(prefix=prefix))
    finally:
        case.out.chmod(0o755)
    said = "cannot write to the output folder" in case.stderr()
    untouched = not any(case.out.iterdir())
    again = case.finish(case.start())
    final = case.records()
    ok = rc == 3 and said and untouched and again == 0 and all(r and r.status == "ok"
                                                               for r in final)
    return Seen(faulted=f"refused (exit {rc}) -> {_st(final[0])}", expected=ok,
                detail=f"exit {rc} before any run, folder left empty: {untouched}; "
                       f"writable again: exit {again}")


def rerun(case: Case, times: int = 3) -> Seen:
    """The same sweep `times` times into one folder, then --resume: one record per run_id,
    attempts counted, the ok run kept as it was."""
    config = {case.run_ids[0]: {"crash_at": 1}}
    codes = [case.finish(case.start(config=config)) for _ in range(times)]
    kept = case.record_path(case.run_ids[1]).read_bytes()
    codes.append(case.finish(case.start("--resume", config=config)))
    final = case.records()
    files = sorted(p.name for p in case.record_path(case.run_ids[0]).parent.glob("*.json"))
    ok = codes == [1] * (times + 1) and [_st(r) for r in final] == \
        [f"failed a{times + 1}"] + [f"ok a{times}"] * (len(final) - 1) and \
        len(files) == len(final) and case.record_path(case.run_ids[1]).read_bytes() == kept
    return Seen(faulted=_st(final[0]), expected=ok,
                detail=f"{times} runs + --resume: exits {codes}, {len(files)} record files, ok "
                       f"run kept at attempt {times}")


def disk_full(case: Case) -> Seen:
    """A 4 MB output file system: refused up front. 160 MB that fills up mid-run: exit 3 with
    the fix, no traceback; space freed, --resume completes every run."""
    faulted = case.run_ids[0]
    with inject.Tmpfs(case.out, "4m") as fs:
        small = case.finish(case.start())
        refused = small == 3 and "MB free" in case.stderr() and \
            not (case.out / "plan.json").exists()
        fs.resize("160m")
        proc = case.start(config={faulted: LONG})
        hit = _started(case, proc, faulted, case.rng.randint(2, 6))
        filler = inject.fill(case.out)
        rc = case.finish(proc)
        err = case.stderr()
        clear = rc == 3 and "No space left on device" in err and "--resume" in err and \
            "Traceback" not in err
        filler.unlink()
        again = case.finish(case.start("--resume"))
        final = case.records()
        case.verify()  # before the tmpfs goes
        shutil.copytree(case.out / "runs", case.folder / "runs-from-tmpfs")
    ok = refused and hit and clear and again == 0 and all(r and r.status == "ok" for r in final)
    return Seen(faulted=f"exit {rc} -> {_st(final[0])} (--resume)", expected=ok,
                detail=f"4 MB: exit {small} before any run; full mid-run: exit {rc}, "
                       f"{'a clear error' if clear else 'NOT a clear error'}; --resume: "
                       f"exit {again}")


KINDS = {
    "rank-sigkill": lambda c: rank_signal(c, signal.SIGKILL),
    "rank-sigterm": lambda c: rank_signal(c, signal.SIGTERM),
    "rank-hang": lambda c: rank_signal(c, signal.SIGSTOP),
    "worker-crash": worker_crash,
    "launcher-interrupt": launcher_interrupt,
    "launcher-sigkill": launcher_kill,
    "corrupt-record": lambda c: damaged_record(c, "corrupt"),
    "truncated-record": lambda c: damaged_record(c, "truncate"),
    "stale-record": stale_record,
    "writer-sigkill": writer_kill,
    "read-only-folder": read_only_folder,
    "rerun": rerun,
    "disk-full": disk_full,
}
DEEPSPEED = ("rank-sigkill", "rank-hang", "rank-sigterm")  # with jobs.worker, in this order
WHAT = {
    "rank-sigkill": "SIGKILL to one rank mid-step",
    "rank-sigterm": "SIGTERM to one rank mid-step",
    "rank-hang": "SIGSTOP to one rank mid-step: the run hangs past its timeout",
    "worker-crash": "the last rank raises an exception",
    "launcher-interrupt": "SIGINT/SIGTERM to `memsweep run` mid-run, then --resume",
    "launcher-sigkill": "SIGKILL to `memsweep run` mid-run: no rank left running; --resume",
    "corrupt-record": "a finished record damaged (bytes or a hand edit), then --resume",
    "truncated-record": "a finished record cut short, then --resume",
    "stale-record": "ok records of earlier attempts planted, then a rank SIGKILL",
    "writer-sigkill": "rank 0 SIGKILLed while writing its 32 MB record",
    "read-only-folder": "the output folder read-only (root: CAP_DAC_OVERRIDE dropped)",
    "rerun": "the same sweep 3 times into one folder, then --resume",
    "disk-full": "a 4 MB tmpfs as output; then a 160 MB one filled mid-run, --resume",
}

