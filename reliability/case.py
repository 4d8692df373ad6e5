"""One case of `memsweep faults` (reliability/campaign.py): a small sweep in a folder of its
own, the launcher that runs it as a user would, and the check every fault must pass (one valid
record per planned run, no process left). The faults themselves are in reliability/cases.py.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psutil

from reliability import inject
from reliability.stand_in import CONFIG_ENV
from results.load import load_records
from results.schema import Measurements, RunRecord
from results.store import log_path, record_path
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
        self.sweep_file.write_text(toml_text(_sweep_doc(self)))
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


def toml_text(doc: dict) -> str:
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
