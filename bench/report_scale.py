"""`memsweep bench-report`: time the frame and the full report over large synthetic histories.

For each size (25,000, 100,000 and 1,000,000 records by default) it writes a
synthetic nightly history (bench/synthetic.py: real v1 records through the real
store, nights × partitions × scenarios × repetitions; kept and reused with
--keep), then measures, each in a fresh process so its peak RSS is its own:

    cold   no frame cache anywhere: every record decoded (and the caches written)
    warm   the history cached but its last night, as the morning after a nightly run

and in each: `load` (sweep folders -> the tidy frame, analysis/sources.py) and
`report` (every page of the PDF, rendered and saved). It prints wall and CPU
seconds (worker processes included), the peak RSS of the measuring process and
of its largest loading worker, and the ratios to the targets: 100k cold load +
report <= 15 s, 100k warm <= 5 s, 1M cold <= 90 s with peak RSS <= 2 GiB.
Run it as `memsweep bench-report` or `python -m bench.report_scale`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, replace
from datetime import timedelta
from pathlib import Path

from bench.synthetic import History, write_history
from results.cache import cache_path
from suite.host_cores import usable_cores

SIZES = (25_000, 100_000, 1_000_000)
MARKER = "bench-history.json"
GiB = 2**30
# (records, kind) -> (seconds of load + report, wall; peak RSS bytes or None)
TARGETS = {(100_000, "cold"): (15.0, None), (100_000, "warm"): (5.0, None),
           (1_000_000, "cold"): (90.0, 2 * GiB)}


def bench_history(records: int) -> History:
    """A history of about `records` records: 3 partitions, 3 world sizes, 3 repetitions."""
    shape = History(nights=1, partitions=("gpu-a100", "gpu-h100", "gpu-h200"),
                    world_sizes=(4, 8, 16), repetitions=3)
    nights = max(2, math.ceil(records / shape.size()))
    return replace(shape, nights=nights, plant={"memory": 1.10, "throughput": 0.90})


def run(sizes: tuple[int, ...] = SIZES, keep: Path | None = None, repeat: int = 1) -> int:
    root = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="memsweep-bench-"))
    try:
        results = []
        for size in sizes:
            history = bench_history(size)
            folder = root / str(size)
            made = _ensure_history(folder, history)
            print(f"history: {made:,} records, {history.nights} nights x "
                  f"{len(history.partitions)} partitions x {len(history.scenarios()):,} runs "
                  f"under {folder}", flush=True)
            for kind in ("cold", "warm"):
                runs = [_measure(folder, kind) for _ in range(repeat)]
                results.append(_median(runs, kind))
                _print_one(results[-1], repeat)
        _print(results, repeat)
        return 0
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)


def _ensure_history(root: Path, history: History) -> int:
    """Write the history unless `root` already holds this one (from an earlier --keep)."""
    marker = root / MARKER
    wanted = json.dumps(asdict(history), default=str, sort_keys=True)
    if marker.exists() and marker.read_text() == wanted:
        return history.size()
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    start = time.perf_counter()
    made = _write_parallel(root, history)
    marker.write_text(wanted)
    print(f"generate: {made:,} records written in {time.perf_counter() - start:.1f} s "
          "(not timed; no fsync: throwaway data)", flush=True)
    return made


def _write_parallel(root: Path, history: History) -> int:
    """write_history in a process per core, a run of nights each (the records are the same:
    each night's are seeded by its date; the plant stays on the history's last night)."""
    workers = max(1, min(usable_cores(), history.nights))
    step = math.ceil(history.nights / workers)
    chunks = [replace(history, first_night=history.first_night + timedelta(days=start),
                      nights=min(step, history.nights - start),
                      plant=history.plant if start + step >= history.nights else {})
              for start in range(0, history.nights, step)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(_write_chunk, [root] * len(chunks), chunks))


def _write_chunk(root: Path, history: History) -> int:
    return write_history(root, history, writers=1, durable=False)


def _measure(folder: Path, kind: str) -> dict:
    """One measurement in a fresh process (its own peak RSS), after setting up the caches:
    none for cold; all but the last night's for warm."""
    nights = sorted(p for p in folder.iterdir() if p.is_dir())
    if kind == "cold" or not all(cache_path(p).is_file() for n in nights[:-1]
                                 for p in n.iterdir() if p.is_dir()):
        for path in folder.glob(f"*/*/{cache_path(Path()).name}"):
            path.unlink()
        if kind == "warm":  # build the caches (not timed)
            _subprocess(folder, folder / "bench-report.pdf", load_only=True)
    if kind == "warm":
        for path in nights[-1].glob(f"*/{cache_path(Path()).name}"):
            path.unlink()
    out = _subprocess(folder, folder / "bench-report.pdf")
    out["kind"] = kind
    return out


def _subprocess(folder: Path, pdf: Path, load_only: bool = False) -> dict:
    cmd = [sys.executable, "-m", "bench.report_scale", "--measure", str(pdf), str(folder),
           *(["--load-only"] if load_only else [])]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the measuring process failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(folder: Path, pdf: Path, load_only: bool = False) -> dict:
    """Time the phases here (wall and CPU seconds, worker processes included); return them,
    the peak RSS and the page count."""
    # the analysis loads late: `memsweep --help` need not pay for pandas and matplotlib
    from analysis.report import report_sources, write_report

    out: dict = {}
    clock = _Clock()
    sources = report_sources([folder])  # as `memsweep report` loads them
    out["load_s"], out["load_cpu_s"] = clock.lap()
    out["records"] = len(sources.frame)
    if load_only:  # the load's own peak (a million records may be timed without the report)
        return {**out, "peak_rss_mib": _peak_rss_mib(), "worker_rss_mib": _worker_rss_mib()}
    titles = write_report(sources, pdf)
    out["report_s"], out["report_cpu_s"] = clock.lap()
    out.update(pages=len(titles), peak_rss_mib=_peak_rss_mib(),
               worker_rss_mib=_worker_rss_mib())
    return out


class _Clock:
    """Wall and CPU seconds since the last lap (CPU of this process and its ended children)."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), _cpu_s()

    def lap(self) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), _cpu_s()
        out = (wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu
        return out


def _cpu_s() -> float:
    own, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF,
                                                  resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _worker_rss_mib() -> float:
    """The largest peak RSS of a loading worker process (0 if the folders were read here)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _median(runs: list[dict], kind: str) -> dict:
    """Each figure's median over the runs, and the median of load + report (not the sum of
    the medians)."""
    out = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k != "kind"}
    totals = [r["load_s"] + r["report_s"] for r in runs]
    out.update(kind=kind, runs=len(runs), records=runs[0]["records"], total=totals,
               total_s=statistics.median(totals),
               total_cpu_s=statistics.median(r["load_cpu_s"] + r["report_cpu_s"] for r in runs))
    return out


def _ratio(r: dict) -> str:
    """Measured / target where this size and kind have a target (<= 1 meets it)."""
    target = next((t for (size, kind), t in TARGETS.items()
                   if kind == r["kind"] and 0.9 <= r["records"] / size <= 1.1), None)
    if target is None:
        return ""
    target_s, target_rss = target
    total = r["total_s"]
    rss = max(r["peak_rss_mib"], r["worker_rss_mib"]) * 2**20
    text = f"{total / target_s:.2f} of {target_s:.0f} s"
    if target_rss:
        text += f", RSS {rss / target_rss:.2f} of {target_rss / GiB:.0f} GiB"
    meets = total <= target_s and (not target_rss or rss <= target_rss)
    return text + (" (meets)" if meets else " (MISSES)")


def _print_one(r: dict, repeat: int) -> None:
    runs = ", ".join(f"{t:.1f}" for t in r["total"])
    print(f"  {r['kind']}: load + report {r['total_s']:.1f} s wall "
          f"(runs: {runs}) {_ratio(r)}", flush=True)


def _print(results: list[dict], repeat: int) -> None:
    what = f"the median of {repeat} runs" if repeat > 1 else "one run"
    print(f"\nseconds: wall (CPU, worker processes included), {what} each; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'records':>9} {'kind':>4} {'load':>13} {'report':>13} {'load+report':>13} "
          f"{'pages':>5} {'peak RSS':>9} {'worker RSS':>10}  vs target")
    for r in results:
        total, cpu = r["total_s"], r["total_cpu_s"]
        print(f"{r['records']:>9,} {r['kind']:>4} " + " ".join(
            f"{r[k + '_s']:>6.1f} ({r[k + '_cpu_s']:>4.1f})" for k in ("load", "report"))
              + f" {total:>6.1f} ({cpu:>4.1f}) {r['pages']:>5.0f} {r['peak_rss_mib']:>5.0f} MiB "
              f"{r['worker_rss_mib']:>6.0f} MiB  {_ratio(r)}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.report_scale", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, nargs="+", default=list(SIZES), metavar="N")
    p.add_argument("--repeat", type=int, default=1, metavar="K",
                   help="measurements per size and kind; the median is printed")
    p.add_argument("--keep", type=Path, metavar="DIR",
                   help="write the histories here and keep them (reused by the next run)")
    p.add_argument("--measure", nargs=2, metavar=("PDF", "FOLDER"), help=argparse.SUPPRESS)
    p.add_argument("--load-only", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.measure:
        pdf, folder = args.measure
        print(json.dumps(measure(Path(folder), Path(pdf), args.load_only)))
        return 0
    return run(tuple(args.records), args.keep, args.repeat)


if __name__ == "__main__":
    raise SystemExit(main())
