"""`memsweep faults --slurm`: the fault campaign against the Slurm clusters of
slurm/cluster/up.sh; no run may be lost, no status may be false, nothing may be left.

    memsweep faults --slurm [--faults 12] [--seed 0] [--out DIR]

Each case is a small sweep submitted with `memsweep submit` (reliability/slurm_case.py) and
one fault (reliability/slurm_cases.py): on the single-node cluster a rank SIGKILL, the task
process SIGKILLed, `scancel`, `--time` expiry, `--mem` exceeded by the real DeepSpeed worker,
`scontrol requeue`; on the two-node cluster a node drained, slurmctld restarted, a node's
slurmd killed. Then the real worker's ranks get SIGKILL, SIGTERM or SIGSTOP in forward,
backward or the optimizer step (ZeRO 0-3, CPU offload), on either cluster. The two clusters
run their cases side by side. A case passes when its faulted run ended with the status the
fault must give, every other run ended ok, every planned run has exactly one valid record,
and no Slurm job and no process of it is left. Exit 0 when every case passes; else 1.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from reliability.campaign import _good, report
from reliability.case import Verdict
from reliability.cases import Seen
from reliability.cluster import SINGLE, TWO_NODE
from reliability.shim import make_shim
from reliability.slurm_case import SlurmCase
from reliability.slurm_cases import DEEPSPEED_FAULTS, SLURM_KINDS, VARIANTS, Kind, deepspeed_kind
from suite.errors import EnvironmentProblem, UserInputError

CLUSTERS = {SINGLE.name: SINGLE, TWO_NODE.name: TWO_NODE}
NODES = {SINGLE.name: (), TWO_NODE.name: ("n1", "n2")}
DEFAULT_FAULTS = 12  # every Slurm fault once and the real worker's three signals


def schedule(faults: int) -> list[tuple[str, Kind]]:
    """(name, kind) per case: rounds of every Slurm fault, then the real worker's faults (the
    strategies in turn), until `faults`. Each real-worker case goes to the cluster whose
    cases so far cost less, so that the two run about as long."""
    plan: list[tuple[str, Kind]] = []
    cost = {name: 0.0 for name in CLUSTERS}
    ds = 0
    while len(plan) < faults:
        for name, kind in SLURM_KINDS.items():
            plan.append((name, kind))
            cost[kind.cluster] += kind.cost_s
        for sig, point in DEEPSPEED_FAULTS:
            lane = min(cost, key=cost.get)
            kind = deepspeed_kind(sig, point, VARIANTS[ds % len(VARIANTS)], lane)
            plan.append((f"ds-{sig.lower()}-{point}", kind))
            cost[lane] += kind.cost_s
            ds += 1
    return plan[:faults]


def campaign(*, faults: int | None = None, seed: int = 0, out: Path | None = None,
             stream=None) -> int:
    stream = stream or sys.stdout
    faults = DEFAULT_FAULTS if faults is None else faults
    if faults < 1:
        raise UserInputError(f"--faults {faults}", key="--faults", fix="give 1 or more")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = Path(out or f"out/faults/{stamp}-slurm-seed{seed}").resolve()
    if out.exists() and any(out.iterdir()):
        raise UserInputError(f"{out} is not empty", key="--out",
                             fix="give a new folder: the campaign writes a sweep folder per case")
    plan = schedule(faults)
    for name in sorted({k.cluster for _, k in plan}):
        if problem := CLUSTERS[name].problem(nodes=NODES[name]):
            raise EnvironmentProblem(problem)
    out.mkdir(parents=True, exist_ok=True)
    shims = {w: make_shim(out / f"shim-{w}", w) for w in ("stand-in", "fault-point")}
    rng = random.Random(seed)
    cases = [(n, name, kind, random.Random(rng.random())) for n, (name, kind)
             in enumerate(plan, 1)]
    lines: list[str] = []
    lock = threading.Lock()

    def say(line: str = "") -> None:
        with lock:
            lines.append(line)
            print(line, file=stream, flush=True)

    real = sum(k.worker == "deepspeed" for _, k in plan)
    say(f"memsweep faults --slurm: {faults} faults, seed {seed}, into {out}")
    say(f"  {faults - real} with the stand-in worker (real srun ranks and records, no model), "
        f"{real} with jobs.worker (DeepSpeed, 2 ranks)")
    say("  each case: a small sweep submitted with `memsweep submit` (its report job cancelled; "
        "the campaign runs `status --reconcile`), one fault; the two clusters side by side")
    say()
    t0 = time.monotonic()

    def lane(name: str) -> list:
        rows = []
        for number, kind_name, kind, case_rng in cases:
            if kind.cluster == name:
                rows.append(one_case(number, kind_name, kind, case_rng, out, shims, say,
                                     len(plan)))
        return rows

    with ThreadPoolExecutor(max_workers=len(CLUSTERS)) as pool:
        rows = [r for f in [pool.submit(lane, name) for name in CLUSTERS] for r in f.result()]
    rows.sort(key=lambda r: r[0])
    wall = time.monotonic() - t0
    for line in report(rows, {name: kind.what for name, kind in plan}):
        say(line)
    false = sum(r[4].false_status for r in rows)
    left = sum(r[3].left for r in rows)
    say(f"real-worker cases: {sum(r[2] == 'deepspeed' for r in rows)}   false statuses: "
        f"{false}   Slurm jobs and processes left: {left}   wall time: {wall:.0f} s")
    (out / "campaign.txt").write_text("\n".join(lines) + "\n")
    return 0 if all(_good(r[3], r[4]) for r in rows) else 1


def one_case(number: int, name: str, kind: Kind, rng: random.Random, out: Path, shims: dict,
             say, total: int) -> tuple:
    cluster = CLUSTERS[kind.cluster]
    t = time.monotonic()
    case = None
    try:
        case = SlurmCase(number=number, kind=name, folder=out / f"{number:02d}-{name}", rng=rng,
                         cluster=cluster, axes=kind.axes,
                         shim=shims["fault-point" if kind.worker == "deepspeed" else "stand-in"],
                         settings={"repetitions": kind.runs, **kind.settings},
                         profile=kind.profile)
        seen = kind.fault(case)
    except Exception as e:  # noqa: BLE001 - an injection that went wrong fails its case
        seen = Seen(faulted="error", expected=False, detail=f"{type(e).__name__}: {e}")
        cluster.restore(nodes=NODES[cluster.name])  # whatever it did to the cluster, undone
    verdict = case.verify() if case else Verdict(planned=0, records=0, lost=0, invalid=0, left=0)
    took = time.monotonic() - t
    say(f"[{number:>2}/{total}] {name} ({kind.worker}, {cluster.name}): {seen.faulted}, "
        f"{'as promised' if _good(verdict, seen) else 'NOT AS PROMISED'} - {seen.detail} "
        f"({took:.0f} s)")
    return (number, name, kind.worker, verdict, seen, took)
