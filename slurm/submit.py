"""`memsweep submit`: a sweep as job arrays, one per node count, plus a report job after them.

    DIR/plan.json          the scenarios; array task i runs scenario i (slurm/task.py)
    DIR/slurm-array.sh     the array script, kept so a user can read and resubmit it; when the
                           runs take different node counts, one per count instead:
                           slurm-array-1node.sh, slurm-array-2nodes.sh ... (slurm/node_shapes.py)
    DIR/slurm-report.sh    the report job: --dependency=afterany:<each array>, so it runs
                           even when tasks fail; reconciles the records (status --reconcile),
                           then the PDF
    DIR/slurm.json         the job ids of every submission (slurm/submissions.py)

`--resume DIR` submits only the runs without an ok record, as `--array=3,5,9%K`: same
run_id, attempt + 1.
"""

from __future__ import annotations

import os
import string
import sys
from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone
from pathlib import Path

from results.search_outcome import FINISHED, load_outcomes
from slurm import node_shapes, ops_ready, outcome, scheduler, submissions
from slurm.local import prepare_output
from slurm.mpi_plugin import detect_mpi
from slurm.node_shapes import Shape
from slurm.profile import Profile, load_profile
from slurm.sbatch import (
    check_mem,
    check_path,
    check_time,
    render_array_script,
    render_report_script,
)
from slurm.searching import search_id
from slurm.states import TERMINAL
from slurm.submissions import Submission
from suite.errors import EnvironmentProblem, UserInputError
from suite.names import check_name
from suite.plan import Plan, plan_path
from suite.scenario import Scenario
from suite.search import SearchSpec
from suite.sweep import load_sweep

ARRAY_SCRIPT, REPORT_SCRIPT = "slurm-array.sh", "slurm-report.sh"
REPORT_TIME, REPORT_MEM = "00:10:00", "4G"  # reading records and drawing a PDF on one core
MAX_SIGNAL_LEAD_S = 120  # SIGUSR1 this long before the time limit (see signal_lead_s)
SLURM_CHECK_S = 30  # slurmctld checks time limits this often (PERIODIC_TIMEOUT)
OUT_FIELDS = ("partition", "profile", "date")  # placeholders --out may hold (nightly folders)


@dataclass(frozen=True, kw_only=True)
class Request:
    """What a `memsweep submit` asks for, resolved from the sweep (or DIR) and the options."""

    name: str
    scenarios: tuple[Scenario, ...]
    plan: Plan | None  # the plan file to write; None on --resume (DIR's stays)
    folder: Path
    profile: Profile
    mpi: str
    search: SearchSpec | None = None  # a capacity search: task i searches combination i


def submit(*, sweep: str | None, resume: str | None, out: str | None, profile: str | None,
           overrides: dict, mpi: str | None, dry_run: bool, ops_check: bool = True) -> int:
    """Submit the sweep (or resume DIR); 0 when submitted (or shown, with dry_run). With
    `ops_check`, first exit 3 if a run would have to compile a DeepSpeed op (slurm/ops_ready.py).
    """
    req = request(sweep=sweep, resume=resume, out=out, profile=profile, overrides=overrides,
                  mpi=mpi)
    previous = [outcome.previous_record(req.folder, s.run_id) for s in req.scenarios]
    if req.search:  # a combination is done when its search concluded, whatever its probes say
        done = concluded(req.folder, req.search, req.scenarios)
        indices = [i for i in range(len(req.scenarios)) if not (resume and done[i])]
    else:
        indices = [i for i, p in enumerate(previous) if not (resume and p and p.status == "ok")]
    if not indices:
        print(f"sweep {req.name}: every run in {req.folder} has an ok record; nothing to submit")
        return 0
    arrays, report = render_scripts(name=req.name, scenarios=req.scenarios, indices=indices,
                                    profile=req.profile, out=req.folder, mpi=req.mpi,
                                    search=req.search is not None)
    what = (f"sweep {req.name}: {len(indices)} of {len(req.scenarios)} runs as "
            + ("one job array" if len(arrays) == 1 else
               f"{len(arrays)} job arrays, one per node count"))
    if not dry_run and ops_check:
        ops_ready.require_built([req.scenarios[i] for i in indices], python=sys.executable)
    if dry_run:
        print(f"{what}, then a report job (dry run: nothing written, nothing submitted)\n")
        for shape, text in arrays:
            print(f"--- {req.folder / script_name(shape, arrays)} (sbatch) ---\n{text}")
        print(f"--- {req.folder / REPORT_SCRIPT} (sbatch --dependency=afterany:ARRAY_JOB_ID"
              f"{':...' if len(arrays) > 1 else ''}) ---\n{report}", end="")
        return 0
    subs = send(req, arrays=arrays, report=report,
                attempts={i: outcome.next_attempt(previous[i]) for i in indices})
    folder = req.folder
    print(f"{what} into {folder}")
    for sub, (shape, _) in zip(subs, arrays, strict=True):
        print(f"array job:  {sub.array_job_id}  ({folder / script_name(shape, arrays)}; "
              f"{len(shape.indices)} runs on {shape.label} each; task logs "
              f"{folder}/logs/slurm-{sub.array_job_id}_<index>.out)")
    print(f"report job: {subs[-1].report_job_id}  ({folder / REPORT_SCRIPT}; runs after the "
          f"array{'s' if len(subs) > 1 else ''}, writes {folder}/report.pdf)\n"
          f"follow:     memsweep status {folder} --watch")
    return 0


def request(*, sweep: str | None, resume: str | None, out: str | None, profile: str | None,
            overrides: dict, mpi: str | None) -> Request:
    if bool(sweep) == bool(resume):
        raise UserInputError("give either a sweep file or --resume DIR", key="SWEEP",
                             fix="memsweep submit SWEEP [--out DIR], or memsweep submit "
                                 "--resume DIR")
    if resume and out:
        raise UserInputError("--resume DIR already names the output folder", key="--out",
                             fix="drop --out")
    if resume:
        folder = _absolute(resume, key="--resume")
        name, scenarios, loaded_plan = submissions.load_plan(folder)
        search = loaded_plan.search
        earlier = submissions.load(folder)
        settings = earlier[-1].settings if earlier else {}
        base = Profile(**settings["profile"]) if "profile" in settings else Profile()
        plan, mpi = None, mpi or settings.get("mpi")
    else:
        loaded = load_sweep(sweep)
        name, scenarios, plan = loaded.name, loaded.scenarios, Plan.of(loaded)
        search = loaded.search
        base = Profile()
    chosen = (load_profile(profile) if profile else base).merged(**check_options(overrides))
    if not resume:
        folder = _absolute(expand_out(out or f"out/{name}", profile=chosen), key="--out")
    return Request(name=name, scenarios=tuple(scenarios), plan=plan, folder=folder,
                   profile=chosen, mpi=mpi or detect_mpi(sys.executable), search=search)


def concluded(folder: Path, search: SearchSpec, combinations) -> list[bool]:
    """Per combination: whether its search outcome says it is finished."""
    done = {o.search_id: o.status in FINISHED for o in load_outcomes(folder)}
    return [done.get(search_id(search, c), False) for c in combinations]


def send(req: Request, *, arrays: list[tuple[Shape, str]], report: str,
         attempts: dict[int, int]) -> list[Submission]:
    """Write the folder's files and make the sbatch calls (each array, then the report job);
    the submissions, one per array."""
    folder = req.folder
    prepare_output(folder)
    earlier = submissions.load(folder)
    refuse_if_active(folder, earlier)
    if req.plan is not None:
        req.plan.write(plan_path(folder))
    files = [(script_name(shape, arrays), text) for shape, text in arrays]
    for file, text in (*files, (REPORT_SCRIPT, report)):
        (folder / file).write_text(text, encoding="utf-8")
        (folder / file).chmod(0o755)
    submitted = datetime.now(timezone.utc).isoformat()  # before sbatch: tasks may start at once
    settings = {"profile": asdict(req.profile), "mpi": req.mpi, "python": sys.executable}
    subs: list[Submission] = []
    for (shape, _), (file, _) in zip(arrays, files, strict=True):
        try:
            job_id = scheduler.sbatch(str(folder / file))
        except EnvironmentProblem as e:
            if not subs:
                raise
            raise EnvironmentProblem(
                f"{_listed(subs)} submitted, the one for {shape.label} is not: {e}\n  then, "
                f"once {'it has' if len(subs) == 1 else 'they have'} ended: memsweep submit "
                f"--resume {folder} submits the rest") from None
        subs.append(Submission(array_job_id=job_id, indices=shape.indices,
                               attempts=tuple(attempts[i] for i in shape.indices),
                               submitted_at=submitted, settings=settings, nodes=shape.nodes))
        submissions.save(folder, req.name, [*earlier, *subs])  # status knows it from now on
    try:
        report_id = scheduler.sbatch(str(folder / REPORT_SCRIPT), dependency="afterany:" +
                                     ":".join(s.array_job_id for s in subs))
    except EnvironmentProblem as e:
        raise EnvironmentProblem(f"{_listed(subs)} submitted but the report job is not: {e}\n"
                                 f"  then, once {'it has' if len(subs) == 1 else 'they have'} "
                                 f"ended: memsweep status {folder} --reconcile; memsweep report "
                                 f"{folder}") from None
    subs = [submissions.with_report(s, report_id) for s in subs]
    submissions.save(folder, req.name, [*earlier, *subs])
    return subs


def _listed(subs: list[Submission]) -> str:
    ids = ", ".join(s.array_job_id for s in subs)
    return f"the array job{'s' if len(subs) > 1 else ''} {ids} {'are' if len(subs) > 1 else 'is'}"


def script_name(shape: Shape, arrays: list) -> str:
    """slurm-array.sh when the submission is one array; else one file per node count."""
    if len(arrays) == 1:
        return ARRAY_SCRIPT
    return f"slurm-array-{shape.nodes}node{'s' if shape.nodes > 1 else ''}.sh"


def check_options(options: dict) -> dict:
    """The command line's profile options, each checked under its own --name."""
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is None:
            continue
        if key in ("partition", "account", "qos"):
            check_name(value, what=flag)
        elif key == "time":
            check_time(value, key=flag)
        elif key == "mem":
            check_mem(value, key=flag)
        elif type(value) is not int or value < (0 if key == "gpus_per_node" else 1):
            raise UserInputError(f"must be a whole number of at least "
                                 f"{0 if key == 'gpus_per_node' else 1}, got {value!r}", key=flag,
                                 fix=f"e.g. {flag} 2, or leave it out to take the profile's")
    return options


def render_scripts(*, name: str, scenarios: list[Scenario] | tuple[Scenario, ...],
                   indices: list[int], profile: Profile, out: Path, mpi: str,
                   search: bool = False, python: str = sys.executable
                   ) -> tuple[list[tuple[Shape, str]], str]:
    """The array scripts, one per node count (fewest nodes first), and the report script.
    Every task of an array asks for the largest world size among its scenarios; srun then
    starts each scenario's own."""
    shapes = node_shapes.split([s.workload.world_size for s in scenarios], indices, profile)
    common = dict(sweep=name, partition=profile.partition, account=profile.account,
                  qos=profile.qos, out_dir=str(out), python=python)
    arrays = [(shape, render_array_script(
        **common, n_tasks=len(scenarios), indices=shape.indices,
        max_parallel=profile.max_parallel, ntasks=shape.ntasks, nodes=shape.nodes,
        cpus_per_task=profile.cpus_per_task, gpus_per_node=profile.gpus_per_node,
        mem=profile.mem, time=profile.time, mpi=mpi, signal_lead_s=signal_lead_s(profile.time),
        task="slurm.search_task" if search else "slurm.task")) for shape in shapes]
    report = render_report_script(**common, time=REPORT_TIME, mem=REPORT_MEM)
    return arrays, report


def refuse_if_active(folder: Path, earlier: list[Submission]) -> None:
    """Two arrays running the same run_ids would write over each other's records."""
    if not earlier:
        return
    ids = {s.array_job_id for s in submissions.owners(earlier).values()}
    ids.add(earlier[-1].report_job_id or "")
    ids.discard("")
    active = [r.name + " " + r.state for r in scheduler.jobs(ids) if r.state not in TERMINAL]
    if active:
        shown = ", ".join(active[:5]) + (" ..." if len(active) > 5 else "")
        raise UserInputError(f"jobs of this sweep are still queued or running: {shown}",
                             source=str(folder),
                             fix=f"wait for them (memsweep status {folder} --watch), or cancel "
                                 f"them with scancel {' '.join(sorted(ids, key=int))}")


def time_seconds(value: str) -> int:
    """Slurm's time formats in seconds: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S."""
    days, dash, rest = check_time(value).partition("-")
    if not dash:
        days, rest = "0", value
    parts = [int(p) for p in rest.split(":")]
    if dash:
        h, m, s = (parts + [0, 0])[:3]
    elif len(parts) == 1:
        h, m, s = 0, parts[0], 0  # a bare number is minutes
    elif len(parts) == 2:
        h, m, s = 0, *parts
    else:
        h, m, s = parts
    return ((int(days) * 24 + h) * 60 + m) * 60 + s


def signal_lead_s(time_limit: str) -> int:
    """Seconds before the limit to ask for SIGUSR1 (#SBATCH --signal=B:USR1@LEAD).

    Slurm checks limits every 30 s and sends the signal at the first check within LEAD + 30 s
    of the limit, so it comes between LEAD and LEAD + 30 s early. LEAD is 120 s, but never so
    much that the signal could come in the first half of the limit (a 1-minute limit: 1 s,
    so the signal comes 29 to 59 s after the start).
    """
    return max(1, min(MAX_SIGNAL_LEAD_S, time_seconds(time_limit) // 2 - SLURM_CHECK_S))


def expand_out(template: str, *, profile: Profile, today: date | None = None) -> str:
    """--out with {partition}, {profile} and {date} filled in (one folder per night)."""
    values = {"partition": profile.partition or "default", "profile": profile.name,
              "date": (today or date.today()).isoformat()}
    try:
        names = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
        if bad := [f for f in names if f not in OUT_FIELDS]:
            raise KeyError(bad[0])
        return template.format_map(values)
    except (KeyError, ValueError, IndexError) as e:
        raise UserInputError(f"{template!r} holds an unknown placeholder or a stray brace ({e})",
                             key="--out",
                             fix=f"use only {', '.join('{' + f + '}' for f in OUT_FIELDS)}"
                             ) from None


def _absolute(path: str, *, key: str) -> Path:
    folder = Path(path).absolute()
    check_path(os.path.normpath(folder), key=key)
    return Path(os.path.normpath(folder))
