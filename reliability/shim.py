"""Working folders whose `python -m jobs.worker` is not quite memsweep's, for the fault
campaign: run from such a folder (locally, or submitted from it: Slurm tasks start in the
submit folder), `python -m` finds its `jobs` package first; every other jobs module is
memsweep's (the package's path goes on to the real one).

    stand-in      reliability/stand_in.py: real MPI ranks, real records, no model
    fault-point   reliability/fault_point.py armed, then the real jobs.worker
"""

from __future__ import annotations

from pathlib import Path

import jobs

WORKERS = {
    "stand-in": "from reliability.stand_in import main\n\nraise SystemExit(main())\n",
    "fault-point": "import runpy\n\nfrom reliability.fault_point import arm\n\narm()\n"
                   "runpy.run_path({real!r}, run_name='__main__')\n",
}


def make_shim(folder: Path, worker: str = "stand-in") -> Path:
    """`folder`, made a working folder whose jobs.worker is `worker` (one of WORKERS)."""
    if worker not in WORKERS:
        raise ValueError(f"shim worker {worker!r}: give one of {sorted(WORKERS)}")
    real = Path(jobs.__file__).resolve().parent
    package = folder / "jobs"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f"__path__.append({str(real)!r})\n")
    (package / "worker.py").write_text(WORKERS[worker].format(real=str(real / "worker.py")))
    return folder
