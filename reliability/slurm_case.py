"""One case of `memsweep faults --slurm` (reliability/slurm_campaign.py): a small sweep
submitted with `memsweep submit` to one of the clusters of slurm/cluster/up.sh, as a user
would, from a shim folder (reliability/shim.py), and the check every fault must pass: one
valid record per planned run, no Slurm job and no process of the case left.

The report job each submission queues is cancelled at once: the campaign runs its
`memsweep status --reconcile` itself once the array has ended (a report per case would cost
more CPU than the faults).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import tomllib

from reliability import inject
from reliability.case import Verdict, toml_text
from reliability.cluster import Cluster, job_ids, processes_of, submitted_jobs
from reliability.fault_point import FAULT_ENV
from reliability.stand_in import CONFIG_ENV
from results.load import load_records
from results.schema import RunRecord
from results.store import log_path
from suite.sweep import load_sweep

RANK_ENV = (*inject.RANK_ENV, "SLURM_PROCID")
END_S = 900  # the longest a case's array may take before the case calls it lost


@dataclass(kw_only=True)
class SlurmCase:
    number: int
    kind: str
    folder: Path
    rng: random.Random
    cluster: Cluster
    shim: Path
    axes: dict  # the sweep's axes (model, world_size, strategies)
    settings: dict = field(default_factory=dict)  # [sweep] on top of the case's defaults
    profile: dict = field(default_factory=dict)  # [profile] on top of the cluster's profile
    env: dict = field(default_factory=dict)  # MEMSWEEP_STAND_IN / MEMSWEEP_FAULT_POINT
    checked: Verdict | None = None
    submits: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True)
        self.sweep_file = self.folder / "sweep.toml"
        settings = {"name": f"slurm-faults-{self.number:02d}", "warmup_steps": 1,
                    "timed_steps": 2, "timeout_s": 600, **self.settings}
        self.sweep_file.write_text(toml_text({"sweep": settings, "axes": self.axes}))
        given = tomllib.loads(self.cluster.profile.read_text())["profile"]
        self.profile_file = self.folder / "profile.toml"
        self.profile_file.write_text(toml_text({"profile": {**given, **self.profile,
                                                        "name": "faults"}}))
        self.sweep = load_sweep(self.sweep_file)
        self.run_ids = [s.run_id for s in self.sweep.scenarios]
        self.out = self.folder / "out"

    # -- as a user: submit, look, resume -------------------------------------------------
    def memsweep(self, *args: str, timeout_s: float = 300) -> subprocess.CompletedProcess:
        """The CLI in its own process, from the shim folder, against this case's cluster."""
        env = {**os.environ, **self.cluster.env,
               CONFIG_ENV: json.dumps(self.env.get(CONFIG_ENV, {})),
               FAULT_ENV: json.dumps(self.env.get(FAULT_ENV, {}))}
        done = subprocess.run([sys.executable, "-m", "memsweep", *args], cwd=self.shim, env=env,
                              capture_output=True, text=True, timeout=timeout_s, check=False)
        name = args[0] + ("-resume" if "--resume" in args else "")
        with open(self.folder / f"{name}.log", "a") as f:
            f.write(f"$ memsweep {' '.join(args)}\nexit {done.returncode}\n{done.stdout}"
                    f"{done.stderr}\n")
        return done

    def submit(self, *, resume: bool = False) -> str:
        """`memsweep submit` (or `--resume`); the array job's id. Its report job is cancelled."""
        self.submits += 1
        args = ("submit", "--resume", str(self.out)) if resume else \
            ("submit", str(self.sweep_file), "--profile", str(self.profile_file),
             "--out", str(self.out))
        done = self.memsweep(*args)
        if done.returncode != 0:
            raise RuntimeError(f"memsweep {' '.join(args)}: exit {done.returncode}: "
                               f"{done.stderr.strip()[-400:]}")
        ids = job_ids(self.out)
        self.cluster.cancel(ids["report_job_id"])
        return ids["array_job_id"]

    def array(self) -> str:
        return job_ids(self.out)["array_job_id"]

    def log(self, index: int) -> Path:
        return log_path(self.out, self.run_ids[index])

    def wait_log(self, index: int, text: str, timeout_s: float = 300) -> bool:
        """Until run `index`'s log holds `text`; False if its array ended first or time ran
        out. Time the array spends pending (other people's jobs share the cluster) does not
        count, up to END_S."""
        start = time.monotonic()
        end = start + timeout_s
        array = self.array()
        while time.monotonic() < end:
            if inject.wait_for(self.log(index), text, timeout_s=2, poll_s=0.05):
                return True
            jobs = self.cluster.jobs(array)
            if not jobs:
                return inject.wait_for(self.log(index), text, timeout_s=1)
            if not any(line.split()[-1] in ("RUNNING", "COMPLETING") for line in jobs):
                end = min(max(end, time.monotonic() + timeout_s), start + END_S)
        return False

    def rank(self, index: int, rank: int) -> psutil.Process | None:
        """Rank `rank` of run `index` (a rank process under slurmstepd)."""
        run_id = self.run_ids[index]
        for p in psutil.process_iter(["cmdline"]):
            cmd = p.info["cmdline"] or []
            if "--run-id" not in cmd or run_id not in cmd or str(self.out) not in cmd:
                continue
            try:
                env = p.environ()
            except psutil.Error:
                continue
            if next((env[k] for k in RANK_ENV if k in env), None) == str(rank) and \
                    "srun" not in Path(cmd[0]).name:
                return p
        return None

    def signal_rank(self, index: int, rank: int, sig: int) -> int | None:
        """`sig` to rank `rank` of run `index`; its pid, or None if it is not there."""
        p = self.rank(index, rank)
        try:
            p and p.send_signal(sig)
        except psutil.NoSuchProcess:
            return None
        return p.pid if p else None

    def wait_record(self, index: int, timeout_s: float = 300) -> RunRecord | None:
        end = time.monotonic() + timeout_s
        while (found := self.records()[index]) is None and time.monotonic() < end:
            time.sleep(1)
        return found

    def finish(self) -> subprocess.CompletedProcess:
        """Wait until Slurm runs nothing of this case's arrays, then `memsweep status
        --reconcile` (what the report job would have run)."""
        end = time.monotonic() + END_S
        while self.cluster.jobs(*submitted_jobs(self.out)) and time.monotonic() < end:
            time.sleep(2)
        return self.memsweep("status", str(self.out), "--reconcile")

    # -- what every case must leave ------------------------------------------------------
    def records(self) -> list[RunRecord | None]:
        by_id = {r.run_id: r for r in load_records(self.out)[0]}
        return [by_id.get(run_id) for run_id in self.run_ids]

    def verify(self) -> Verdict:
        """Records, lost runs, and what is left: Slurm jobs of the case and processes naming
        its folder (cancelled and killed once counted)."""
        jobs = self.cluster.jobs(*submitted_jobs(self.out))
        self.cluster.cancel(*submitted_jobs(self.out))
        procs = processes_of(self.out, within_s=30)
        for line in procs:
            try:
                os.kill(int(line.split(":", 1)[0]), signal.SIGKILL)
            except OSError:
                pass
        records, bad = load_records(self.out)
        found = {r.run_id for r in records}
        self.checked = Verdict(planned=len(self.run_ids), records=len(found & set(self.run_ids)),
                               lost=len(set(self.run_ids) - found),
                               invalid=len(bad) + len(found - set(self.run_ids)),
                               left=len(jobs) + len(procs))
        if jobs or procs:
            (self.folder / "left.txt").write_text("\n".join([*jobs, *procs]) + "\n")
        return self.checked
