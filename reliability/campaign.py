"""`memsweep faults`: a fault-injection campaign against small sweeps; no run may be lost.

    memsweep faults [--faults 24] [--deepspeed 3] [--seed 0] [--out DIR]

Each case is a small sweep (2 runs of 2 ranks; 1 run in the DeepSpeed hang and SIGTERM
cases) run by `memsweep run` itself, as a process of its own (so slurm.local.run_sweep,
results.store and results.load do all the work), with one fault injected from outside it
(reliability/case.py, reliability/cases.py, reliability/inject.py).
Most cases use the stand-in worker (reliability/stand_in.py: real MPI ranks, real records, no
model); `--deepspeed` of them use jobs.worker itself (DeepSpeed, tiny model, 2 ranks).
After each case every planned run must have exactly one valid record, and no process of
the case may be left. Exit 0 only when no run was lost, every record is valid, nothing
was left running and every fault ended as memsweep promises; else 1.
"""

from __future__ import annotations

import random
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from reliability import inject
from reliability.case import Case, Verdict
from reliability.cases import DEEPSPEED, KINDS, WHAT, Seen
from reliability.shim import make_shim
from suite.errors import UserInputError


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
    for line in report(rows, WHAT):
        say(line)
    (out / "campaign.txt").write_text("\n".join(lines) + "\n")
    return 0 if all(_good(r[3], r[4]) for r in rows) else 1


def _good(v: Verdict, seen: Seen) -> bool:
    return v.lost == 0 and v.invalid == 0 and v.left == 0 and seen.expected


def report(rows: list, what: dict[str, str]) -> list[str]:
    """The table of cases, the statuses by fault and the totals."""
    width = max(len(r[4].faulted) for r in rows)
    head = (f"{'#':>3}  {'fault':<20} {'worker':<9} {'planned':>7} {'records':>7} {'lost':>4} "
            f"{'invalid':>7} {'left':>4}  {'faulted run':<{width}}  {'ok':<3} {'s':>4}")
    out = ["", head, "-" * len(head)]
    for n, kind, worker, v, seen, took in rows:
        out.append(f"{n:>3}  {kind:<20} {worker:<9} {v.planned:>7} {v.records:>7} {v.lost:>4} "
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
        out.append(f"  {name:<33} {len(group):>2} case(s), {good} as promised: {text}")
    out += ["", "faults:"] + [f"  {k:<20} {what[k]}" for k in sorted({r[1] for r in rows})]
    total = {k: sum(getattr(r[3], k) for r in rows)
             for k in ("planned", "records", "lost", "invalid", "left")}
    good = sum(_good(r[3], r[4]) for r in rows)
    out += ["", f"planned runs: {total['planned']}   records: {total['records']}   "
                f"lost runs: {total['lost']}   invalid records: {total['invalid']}   "
                f"processes left: {total['left']}   as promised: {good}/{len(rows)}",
            "result: " + ("PASS: every planned run ended with exactly one valid record"
                          if good == len(rows) else "FAIL: see the rows marked NO")]
    return out
