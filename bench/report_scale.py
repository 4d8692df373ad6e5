"""`memsweep bench-report`: time the frame and the full report over a large synthetic history.

Writes a synthetic history (bench/synthetic.py: real v1 records through the
real store, several nights × partitions × scenarios × repetitions), then, each
in a fresh process so its peak RSS is its own, measures at two sizes (a
quarter of the nights, then all of them):

    load     sweep folders -> the tidy frame (analysis/sources.py)
    compare  every comparison of the report: baseline, fits, Pareto, scaling,
             nightly regressions, partitions, findings, appendix, failures
    report   every page of the PDF, rendered and saved

and prints each phase's seconds, the peak RSS and the RSS per record. The
target: 100,000 records in at most 60 s, memory linear in the records.
Run it as `memsweep bench-report` or `python -m bench.report_scale`.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from bench.synthetic import History, write_history

TARGET_S = 60.0
MARKER = "bench-history.json"


def bench_history(records: int) -> History:
    """A history of about `records` records: 3 partitions, 3 world sizes, 3 repetitions."""
    shape = History(nights=1, partitions=("gpu-a100", "gpu-h100", "gpu-h200"),
                    world_sizes=(4, 8, 16), repetitions=3)
    nights = max(2, math.ceil(records / shape.size()))
    return History(**{**asdict(shape), "nights": nights,
                      "plant": {"memory": 1.10, "throughput": 0.90}})


def run(records: int, keep: Path | None) -> int:
    history = bench_history(records)
    root = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="memsweep-bench-"))
    try:
        made = _ensure_history(root, history)
        nights = sorted(p for p in root.iterdir() if p.is_dir())
        quarter = nights[:max(1, len(nights) // 4)]
        print(f"history: {made:,} records, {history.nights} nights x "
              f"{len(history.partitions)} partitions x {len(history.scenarios()):,} runs "
              f"({history.repetitions} repetitions) under {root}")
        results = [_measure(quarter, root / "bench-quarter.pdf"),
                   _measure(nights, root / "bench-report.pdf")]
        _print(results)
        last = results[-1]
        total = last["load_s"] + last["report_s"]
        verdict = "meets" if total <= TARGET_S else "MISSES"
        print(f"\n{last['records']:,} records: frame and full report in {total:.1f} s wall "
              f"({last['load_cpu_s'] + last['report_cpu_s']:.1f} s CPU), {verdict} the target "
              f"of {TARGET_S:.0f} s")
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
    if root.exists() and any(root.iterdir()):
        shutil.rmtree(root)
    start = time.perf_counter()
    made = write_history(root, history)
    marker.write_text(wanted)
    print(f"generate: {made:,} records written in {time.perf_counter() - start:.1f} s "
          "(not part of the timed phases)")
    return made


def _measure(folders: list[Path], pdf: Path) -> dict:
    """The phases in a fresh process (its own peak RSS)."""
    cmd = [sys.executable, "-m", "bench.report_scale", "--measure", str(pdf),
           *map(str, folders)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the measuring process failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(folders: list[Path], pdf: Path) -> dict:
    """Time the phases here (wall and CPU seconds, worker processes included); return them,
    the peak RSS and the page count."""
    from analysis.history import night_span
    from analysis.report import report_pages, save, sweep_name
    from analysis.sources import load_sources

    out: dict = {}
    clock = _Clock()
    sources = load_sources(folders)
    out["load_s"], out["load_cpu_s"] = clock.lap()
    out["load_rss_mib"] = _peak_rss_mib()
    _comparisons(sources.frame)
    out["compare_s"], out["compare_cpu_s"] = clock.lap()
    report = report_pages(sources)
    save(report, pdf, sweep_name(sources.frame), night_span(sources.frame))
    out["report_s"], out["report_cpu_s"] = clock.lap()
    out.update(records=len(sources.frame), pages=len(report), peak_rss_mib=_peak_rss_mib(),
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


def _comparisons(frame) -> None:
    from analysis import run_tables
    from analysis.analysis import analyse
    from analysis.findings import findings

    a = analyse(frame)
    a.vs_baseline, a.fits, a.pareto, a.scaling, a.nightly  # noqa: B018 - computed on first use
    findings(a)
    run_tables.appendix_table(a.frame), run_tables.failure_groups(a.frame)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _worker_rss_mib() -> float:
    """The largest peak RSS of a loading worker process (0 if the folders were read here)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _print(results: list[dict]) -> None:
    print("\nseconds: wall (CPU, worker processes included); `memsweep report` = load + report"
          "\n(the report makes the comparisons again; `compare` times them alone)")
    print(f"{'records':>9} {'load':>13} {'compare':>13} {'report':>13} {'load+report':>13} "
          f"{'pages':>5} {'peak RSS':>9} {'RSS/record':>10} {'worker RSS':>10}")
    for r in results:
        total = r["load_s"] + r["report_s"]
        cpu = r["load_cpu_s"] + r["report_cpu_s"]
        print(f"{r['records']:>9,} " + " ".join(
            f"{r[k + '_s']:>6.1f} ({r[k + '_cpu_s']:>4.1f})" for k in ("load", "compare",
                                                                    "report"))
              + f" {total:>6.1f} ({cpu:>4.1f}) {r['pages']:>5} {r['peak_rss_mib']:>5.0f} MiB "
              f"{1024 * r['peak_rss_mib'] / r['records']:>6.1f} KiB "
              f"{r['worker_rss_mib']:>6.0f} MiB")
    if len(results) == 2:
        a, b = results
        slope = (b["peak_rss_mib"] - a["peak_rss_mib"]) / (b["records"] - a["records"]) * 1024
        print(f"peak RSS grows by {slope:.2f} KiB per record between the two sizes")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.report_scale", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=100_000, metavar="N")
    p.add_argument("--keep", type=Path, metavar="DIR",
                   help="write the history here and keep it (reused by the next run)")
    p.add_argument("--measure", nargs="+", metavar="PDF FOLDER", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.measure:
        pdf, *folders = args.measure
        print(json.dumps(measure([Path(f) for f in folders], Path(pdf))))
        return 0
    return run(args.records, args.keep)


if __name__ == "__main__":
    raise SystemExit(main())
