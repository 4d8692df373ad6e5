"""The Slurm clusters of slurm/cluster/up.sh as the fault campaign and the Slurm tests drive
them: whether one is up, its daemons, its nodes, its jobs, and putting it back as it was.

The single-node cluster (`up.sh`) answers the default SLURM_CONF; the two-node one
(`up.sh --nodes 2`, nodes n1 and n2 on this host) answers /etc/slurm/two-node/slurm.conf;
the forgetful one (`up.sh --forgetful`, node f1, MinJobAge=2: it forgets a job seconds after
it ended) answers /etc/slurm/forgetful/slurm.conf.
Every fault that touches a daemon or a node is undone by `restore` (resume the node, start
what is down): other people's jobs share these clusters.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

import slurm

UP_SH = Path(slurm.__file__).resolve().parent / "cluster" / "up.sh"
USABLE = ("idle", "mixed", "allocated", "completing")
TOOLS = ("sbatch", "squeue", "scontrol", "scancel", "sinfo")


@dataclass(frozen=True, kw_only=True)
class Cluster:
    name: str
    conf: str | None  # SLURM_CONF of its clients; None: Slurm's default
    run_dir: Path  # its daemons' pid files
    up_args: tuple[str, ...]  # what brings it up: `bash up.sh ARGS`
    profile: Path | None = None  # the memsweep profile that fits it, if memsweep runs there

    def __post_init__(self) -> None:
        if self.conf is not None and not self.conf.startswith("/"):
            raise ValueError(f"cluster {self.name}: conf {self.conf!r}: give an absolute path")

    @property
    def env(self) -> dict[str, str]:
        """What a client of this cluster needs on top of the environment."""
        return {"SLURM_CONF": self.conf} if self.conf else {}

    def run(self, *argv: str, timeout_s: float = 60, check: bool = False
            ) -> subprocess.CompletedProcess:
        """A Slurm client command against this cluster."""
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s,
                              check=check, env={**os.environ, **self.env})

    def up_command(self) -> str:
        return f"sudo bash slurm/cluster/up.sh {' '.join(self.up_args)}".rstrip() + \
            " (or `make cluster-up`; `make test` does it)"

    def node_states(self) -> dict[str, str]:
        done = self.run("sinfo", "-h", "-N", "-o", "%N %T")
        if done.returncode != 0:
            return {}
        return dict(line.split()[:2] for line in done.stdout.splitlines() if line.strip())

    def problem(self, *, nodes: tuple[str, ...] = (), wait_s: float = 30) -> str | None:
        """None when the cluster takes jobs (on each of `nodes`, if given), else what is wrong
        and how to bring it up. A node just resumed reads `idle*` until slurmctld pings it."""
        if any(shutil.which(t) is None for t in TOOLS):
            return f"Slurm's client tools are not installed here: run {self.up_command()}"
        if self.conf and not Path(self.conf).exists():
            return f"the {self.name} Slurm cluster is not set up here: run {self.up_command()}"
        end = time.monotonic() + wait_s
        while True:
            states = self.node_states()
            usable = {n for n, s in states.items() if s.rstrip("*~#") in USABLE and
                      not s.endswith("*")}
            if usable and set(nodes) <= usable:
                return None
            if time.monotonic() > end:
                if usable:  # up, but a node it needs is not: say which, not "not up"
                    down = ", ".join(f"{n} is {states.get(n, 'unknown to it')}"
                                     for n in nodes if n not in usable)
                    return f"the {self.name} Slurm cluster is up but node {down}: run " \
                           f"{self.up_command()}, which resumes its nodes"
                return f"the {self.name} Slurm cluster is not up (sinfo: {states or 'no answer'})" \
                       f": run {self.up_command()}"
            time.sleep(1)

    def daemon_pid(self, name: str, node: str | None = None) -> int:
        """The pid of slurmctld, or of the slurmd of `node` (None: the only one)."""
        file = f"{name}-{node}.pid" if node else f"{name}.pid"
        pid = int((self.run_dir / file).read_text())
        if psutil.Process(pid).name() != name:
            raise RuntimeError(f"{self.run_dir / file} names pid {pid}, which is not {name}")
        return pid

    def kill_daemon(self, name: str, node: str | None = None,
                    sig: int = signal.SIGKILL) -> int:
        pid = self.daemon_pid(name, node)
        os.kill(pid, sig)
        psutil.Process(pid).wait(timeout=60) if sig != signal.SIGKILL else None
        return pid

    def node_steps(self, node: str) -> list[psutil.Process]:
        """The slurmstepd's of `node`: each listens on a socket in the node's SlurmdSpoolDir
        (`scontrol show config`, %n its name), the only thing that tells two nodes' (or two
        clusters') steps on this one host apart."""
        config = self.run("scontrol", "show", "config", check=True).stdout
        spool = next(line.split("=", 1)[1].strip() for line in config.splitlines()
                     if line.split("=", 1)[0].strip() == "SlurmdSpoolDir")
        spool = spool.replace("%n", node).rstrip("/") + "/"
        steps = []
        for p in psutil.process_iter(["name", "cmdline"]):
            try:
                if (p.info["cmdline"] or [""])[0].startswith("slurmstepd:") and any(
                        (c.laddr or "").startswith(spool)
                        for c in p.net_connections(kind="unix")):
                    steps.append(p)
            except psutil.Error:  # ended meanwhile
                continue
        return steps

    def clear_node(self, node: str, timeout_s: float = 30) -> list[str]:
        """SIGKILL what is left of the steps of `node`, whose slurmd was killed (its
        slurmstepd's and the ranks below them), and wait until they are gone: a dead node
        comes back rebooted, none of its processes left. Otherwise they outlive the node's
        death by seconds (until they notice their peer gone and the new slurmd ends them),
        beside the next job's step. `pid: command` of each one killed."""
        gone = [p for step in self.node_steps(node)
                for p in (step, *step.children(recursive=True))]
        killed = []
        for p in gone:
            try:
                killed.append(f"{p.pid}: {' '.join(p.cmdline())[:120]}")
                p.kill()
            except psutil.Error:  # ended meanwhile
                continue
        end = time.monotonic() + timeout_s
        while alive := [p.pid for p in gone if _alive(p)]:
            if time.monotonic() > end:
                raise RuntimeError(f"node {node}: pids {alive} still alive {timeout_s:.0f} s "
                                   f"after SIGKILL")
            time.sleep(0.2)
        return killed

    def set_node(self, node: str, state: str, reason: str = "") -> None:
        argv = ["scontrol", "update", f"nodename={node}", f"state={state}"]
        self.run(*argv, *([f"reason={reason}"] if reason else []), check=True)

    def restore(self, *, nodes: tuple[str, ...] = ()) -> str:
        """Start whatever daemon is down (up.sh is idempotent), resume `nodes` (those a fault
        drained or downed); "" when the cluster takes jobs again, else what is wrong."""
        up = subprocess.run(["bash", str(UP_SH), *self.up_args], capture_output=True,
                            text=True, timeout=180, check=False)
        for node in nodes:
            state = self.node_states().get(node, "")
            if any(word in state for word in ("drain", "down", "fail")):
                self.run("scontrol", "update", f"nodename={node}", "state=resume")
        if up.returncode != 0:
            return f"up.sh {' '.join(self.up_args)} failed: {up.stderr.strip()[-300:]}"
        return self.problem(nodes=nodes, wait_s=60) or ""

    def jobs(self, *job_ids: str) -> list[str]:
        """`JOBID STATE` of these jobs (and their array tasks) that Slurm still runs or holds."""
        if not job_ids:
            return []
        done = self.run("squeue", "-h", "-o", "%i %T", "-j", ",".join(job_ids))
        return [line for line in done.stdout.splitlines() if line.strip()]

    def knows(self, job_id: str) -> bool:
        """Whether slurmctld still has a record of the job (pending, running or ended)."""
        return self.run("scontrol", "show", "job", "-o", job_id).returncode == 0

    def cancel(self, *job_ids: str) -> None:
        if job_ids:
            self.run("scancel", *job_ids)


def _alive(p: psutil.Process) -> bool:
    """Not ended (a zombie has: only its parent's wait is left)."""
    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


SINGLE = Cluster(name="single-node", conf=None, run_dir=Path("/run/slurm"), up_args=(),
                 profile=UP_SH.parent.parent / "profiles" / "cpu-local.toml")
TWO_NODE = Cluster(name="two-node", conf="/etc/slurm/two-node/slurm.conf",
                   run_dir=Path("/run/slurm/two-node"), up_args=("--nodes", "2"),
                   profile=UP_SH.parent.parent / "profiles" / "cpu-2node.toml")

FORGETFUL = Cluster(name="forgetful", conf="/etc/slurm/forgetful/slurm.conf",
                    run_dir=Path("/run/slurm/forgetful"), up_args=("--forgetful",))


def job_ids(out: Path) -> dict:
    """The last submission of out/slurm.json."""
    return json.loads((out / "slurm.json").read_text())["submissions"][-1]


def submitted_jobs(out: Path) -> list[str]:
    """Every job id `memsweep submit` wrote to out/slurm.json (arrays and report jobs)."""
    try:
        subs = json.loads((out / "slurm.json").read_text())["submissions"]
    except (OSError, ValueError, KeyError):
        return []
    return [i for s in subs for i in (s.get("array_job_id"), s.get("report_job_id")) if i]


def task_pid(out: Path, index: int) -> int | None:
    """The pid of the slurm.task process of plan index `index` of `out` (the array script
    exec'd it), None if there is none."""
    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info["cmdline"] or []
        if "slurm.task" in cmd and str(out) in cmd and cmd[-2:] == ["--index", str(index)]:
            return p.pid
    return None


def processes_of(out: Path, within_s: float = 0.0) -> list[str]:
    """`pid: command` of live processes whose command line names `out`, after up to
    `within_s` for them to go."""
    end = time.monotonic() + within_s
    while True:
        left = []
        for p in psutil.process_iter(["cmdline", "status"]):
            cmd = p.info["cmdline"] or []
            if p.info["status"] != psutil.STATUS_ZOMBIE and any(str(out) in c for c in cmd):
                left.append(f"{p.pid}: {' '.join(cmd)[:200]}")
        if not left or time.monotonic() > end:
            return left
        time.sleep(1)
