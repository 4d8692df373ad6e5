"""`memsweep faults`: a fault-injection campaign against small sweeps; no run may be lost.

    memsweep faults [--faults 24] [--deepspeed 3] [--seed 0] [--out DIR]

Each case is a small sweep (2 runs of 2 ranks; 1 run in the DeepSpeed hang and SIGTERM
cases) run by `memsweep run` itself, as a process of its own (so slurm.local.run_sweep,
results.store and results.load do all the work), with one fault injected from outside it
(reliability/cases.py, reliability/inject.py).
Most cases use the stand-in worker (reliability/stand_in.py: real MPI ranks, real records, no
model); `--deepspeed` of them use jobs.worker itself (DeepSpeed, tiny model, 2 ranks).
After each case every planned run must have exactly one valid record, and no process of
the case may be left. Exit 0 only when no run was lost, every record is valid, nothing
was left running and every fault ended as memsweep promises; else 1.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psutil

import jobs
from reliability import inject
from reliability.cases import DEEPSPEED, KINDS, WHAT, Seen
from reliability.stand_in import CONFIG_ENV
from results.load import load_records
from results.schema import Measurements, RunRecord
from results.store import log_path, record_path
from suite.errors import UserInputError
from suite.sweep import load_sweep


@dataclass(frozen=True, kw_only=True)
class Verdict:
    planned: int
    records: int  # valid records of planned runs
    lost: int  # planned runs without a valid record
    invalid: int  # files the loader quarantined, records of runs not planned
    left: int  # processes of the case still alive at its end (then killed)


@dataclass(kw_only=True)
class Case:
    number: int
    kind: str
    folder: Path
    rng: random.Random
    deepspeed: bool
    shim: Path  # a working folder whose `jobs.worker` is the stand-in
    checked: Verdict | None = None
    launches: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True)
        self.sweep_file = self.folder / "sweep.toml"
        self.sweep_file.write_text(_toml(_sweep_doc(self)))
        self.sweep = load_sweep(self.sweep_file)
        self.run_ids = [s.run_id for s in self.sweep.scenarios]
        self.out = self.folder / "out"

    def start(self, *args: str, config: dict | None = None, prefix=()) -> subprocess.Popen:
        """`memsweep run SWEEP --out OUT ARGS` in a session of its own, as from a terminal."""
        self.launches += 1
        env = {**os.environ, CONFIG_ENV: json.dumps(config or {})}
        argv = [*prefix, sys.executable, "-m", "memsweep", "run", str(self.sweep_file),
                "--out", str(self.out), *args]
        with open(self.folder / f"launch-{self.launches}.out", "wb") as out, \
                open(self.folder / f"launch-{self.launches}.err", "wb") as err:
            return subprocess.Popen(argv, cwd=self.folder if self.deepspeed else self.shim,
                                    env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    start_new_session=True)

    def finish(self, proc: subprocess.Popen, timeout_s: float = 600) -> int:
        try:
            return proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_all(str(self.folder))
            return proc.wait()

    def stderr(self) -> str:
        return (self.folder / f"launch-{self.launches}.err").read_text(errors="replace")

    def log(self, run_id: str) -> Path:
        return log_path(self.out, run_id)

    def record_path(self, run_id: str) -> Path:
        return record_path(self.out, run_id)

    def load(self):
        return load_records(self.out)

    def records(self) -> list[RunRecord | None]:
        """Each planned run's valid record (results.load), None where it has none."""
        by_id = {r.run_id: r for r in self.load()[0]}
        return [by_id.get(run_id) for run_id in self.run_ids]

    def ok_record(self, run_id: str, *, attempt: int, age: timedelta) -> RunRecord:
        scenario = next(s for s in self.sweep.scenarios if s.run_id == run_id)
        then = datetime.now(timezone.utc) - age
        m = Measurements(step_times_s=(0.1,), step_time_s=0.1, step_time_iqr_s=0.0,
                         samples_per_s=20.0, tokens_per_s=0.0, final_loss=1.0)
        return RunRecord(run_id=run_id, attempt=attempt, status="ok", sweep=self.sweep.name,
                         scenario=scenario.to_json(), started_at=then.isoformat(),
                         finished_at=(then + timedelta(seconds=1)).isoformat(), duration_s=1.0,
                         measurements=m, fingerprint={"planted_by": "memsweep faults"})

    def plant(self, record: RunRecord) -> None:
        """A record written into the folder from outside (an old copy, a requeued attempt)."""
        path = self.record_path(record.run_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record.to_json()))

    def verify(self) -> Verdict:
        records, bad = self.load()
        found = {r.run_id for r in records}
        left = _kill_all(str(self.folder))
        self.checked = Verdict(planned=len(self.run_ids), records=len(found & set(self.run_ids)),
                               lost=len(set(self.run_ids) - found),
                               invalid=len(bad) + len(found - set(self.run_ids)), left=len(left))
        return self.checked


def _sweep_doc(case: Case) -> dict:
    hang = case.kind == "rank-hang"
    settings = {"name": f"faults-{case.number:02d}", "warmup_steps": 1,
                "timed_steps": 40 if case.deepspeed else 2,
                "timeout_s": (60 if case.deepspeed else 8) if hang else 600}
    stages = [0] if case.deepspeed and case.kind != "rank-sigkill" else [0, 1]
    return {"sweep": settings, "axes": {"model": "tiny", "world_size": 2, "zero_stage": stages}}


def _toml(doc: dict) -> str:
    """The TOML of a two-level document of strings, numbers and lists (JSON writes those)."""
    return "".join(f"[{table}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())
                   for table, values in doc.items())


def _kill_all(marker: str) -> list[str]:
    """SIGKILL what the campaign started for a case and is still alive; what that was."""
    left = inject.leftovers(marker)
    for line in left:
        try:
            psutil.Process(int(line.split(":", 1)[0])).kill()
        except psutil.Error:
            pass
    return left


def make_shim(folder: Path) -> Path:
    """A folder whose `python -m jobs.worker` is the stand-in; every other jobs module is
    memsweep's (the package's path goes on to the real one)."""
    package = folder / "jobs"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f"__path__.append({str(Path(jobs.__file__).parent)!r})\n")
    (package / "worker.py").write_text("from reliability.stand_in import main\n\n"
                                       "raise SystemExit(main())\n")
    return folder


def available(out: Path) -> tuple[list[str], dict[str, str]]:
    """The kinds this machine can inject, and why each other one cannot."""
    why = {}
    if inject.read_only_prefix() is None:
        why["read-only-folder"] = "root without setpriv cannot be kept out of a folder"
    if problem := inject.can_mount(out / ".mount-probe"):
        why["disk-full"] = problem
    (out / ".mount-probe").rmdir()
    return [k for k in KINDS if k not in why], why


def schedule(rng: random.Random, faults: int, deepspeed: int, kinds: list[str]) -> list:
    """(kind, deepspeed?) per case: the stand-in kinds in rounds (each once per round, in a
    random order), the DeepSpeed cases taking DEEPSPEED in turn; all shuffled."""
    stand_in: list[str] = []
    while len(stand_in) < faults - deepspeed:
        stand_in += rng.sample(kinds, len(kinds))
    cases = [(k, False) for k in stand_in[:faults - deepspeed]] + \
        [(DEEPSPEED[i % len(DEEPSPEED)], True) for i in range(deepspeed)]
    rng.shuffle(cases)
    return cases


def campaign(*, faults: int = 24, deepspeed: int | None = None, seed: int = 0,
             out: Path | None = None, stream=None) -> int:
    """Run the campaign (deepspeed: 3 DeepSpeed cases, or `faults` if fewer); its exit code."""
    stream = stream or sys.stdout
    deepspeed = min(3, max(faults, 0)) if deepspeed is None else deepspeed
    if faults < 1 or not 0 <= deepspeed <= faults:
        raise UserInputError(f"--faults {faults} --deepspeed {deepspeed}", key="--faults",
                             fix="give --faults 1 or more and --deepspeed between 0 and it")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = Path(out or f"out/faults/{stamp}-seed{seed}").resolve()
    if out.exists() and any(out.iterdir()):
        raise UserInputError(f"{out} is not empty", key="--out",
                             fix="give a new folder: the campaign writes a sweep folder per case")
    (out / ".mount-probe").mkdir(parents=True)
    kinds, unavailable = available(out)
    rng = random.Random(seed)
    plan = schedule(rng, faults, deepspeed, kinds)
    shim = make_shim(out / "shim")
    lines: list[str] = []

    def say(line: str = "") -> None:
        lines.append(line)
        print(line, file=stream, flush=True)

    say(f"memsweep faults: {faults} faults, seed {seed}, into {out}")
    say(f"  {faults - deepspeed} with the stand-in worker (reliability/stand_in.py: real MPI "
        f"ranks, real records, no model), {deepspeed} with jobs.worker (DeepSpeed, tiny model, "
        f"2 ranks)")
    say("  each case: a small sweep (2 runs of 2 ranks; 1 run in the DeepSpeed hang and SIGTERM "
        "cases) run by `memsweep run` as its own process, the fault injected from outside")
    for kind, why in unavailable.items():
        say(f"  not injected here: {kind}: {why}")
    say()
    rows = []
    for number, (kind, ds) in enumerate(plan, 1):
        case = Case(number=number, kind=kind, folder=out / f"{number:02d}-{kind}",
                    rng=random.Random(rng.random()), deepspeed=ds, shim=shim)
        t = time.monotonic()
        try:
            seen = KINDS[kind](case)
        except Exception as e:  # noqa: BLE001 - an injection that went wrong fails its case
            seen = Seen(faulted="error", expected=False, detail=f"{type(e).__name__}: {e}")
        verdict = case.checked or case.verify()
        row = (number, kind, "deepspeed" if ds else "stand-in", verdict, seen,
               time.monotonic() - t)
        rows.append(row)
        say(f"[{number:>2}/{len(plan)}] {kind} ({row[2]}): {seen.faulted}, "
            f"{'as promised' if _good(verdict, seen) else 'NOT AS PROMISED'} - {seen.detail} "
            f"({row[5]:.0f} s)")
    for line in report(rows):
        say(line)
    (out / "campaign.txt").write_text("\n".join(lines) + "\n")
    return 0 if all(_good(r[3], r[4]) for r in rows) else 1


def _good(v: Verdict, seen: Seen) -> bool:
    return v.lost == 0 and v.invalid == 0 and v.left == 0 and seen.expected


def report(rows: list) -> list[str]:
    """The table of cases, the statuses by fault and the totals."""
    width = max(len(r[4].faulted) for r in rows)
    head = (f"{'#':>3}  {'fault':<18} {'worker':<9} {'planned':>7} {'records':>7} {'lost':>4} "
            f"{'invalid':>7} {'left':>4}  {'faulted run':<{width}}  {'ok':<3} {'s':>4}")
    out = ["", head, "-" * len(head)]
    for n, kind, worker, v, seen, took in rows:
        out.append(f"{n:>3}  {kind:<18} {worker:<9} {v.planned:>7} {v.records:>7} {v.lost:>4} "
                   f"{v.invalid:>7} {v.left:>4}  {seen.faulted:<{width}}  "
                   f"{'yes' if _good(v, seen) else 'NO':<3} {took:>4.0f}")
    out += ["", "statuses by fault (how the faulted run ended; aN = attempt N):"]
    by_kind: dict[str, list] = {}
    for row in rows:
        by_kind.setdefault(f"{row[1]} ({row[2]})", []).append(row)
    for name, group in sorted(by_kind.items()):
        ended = Counter(r[4].faulted for r in group)
        text = ", ".join(f"{s} x{n}" if n > 1 else s for s, n in ended.most_common())
        good = sum(_good(r[3], r[4]) for r in group)
        out.append(f"  {name:<31} {len(group):>2} case(s), {good} as promised: {text}")
    out += ["", "faults:"] + [f"  {k:<18} {WHAT[k]}" for k in sorted({r[1] for r in rows})]
    total = {k: sum(getattr(r[3], k) for r in rows)
             for k in ("planned", "records", "lost", "invalid", "left")}
    good = sum(_good(r[3], r[4]) for r in rows)
    out += ["", f"planned runs: {total['planned']}   records: {total['records']}   "
                f"lost runs: {total['lost']}   invalid records: {total['invalid']}   "
                f"processes left: {total['left']}   as promised: {good}/{len(rows)}",
            "result: " + ("PASS: every planned run ended with exactly one valid record"
                          if good == len(rows) else "FAIL: see the rows marked NO")]
    return out
