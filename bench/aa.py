"""A/A benchmark: the false-alarm rate of `memsweep compare`, measured on this machine.

The same sweep, same code, is run twice here (A, then B) with `--repetitions` runs of each
scenario, and B is compared with A: every regression or improvement it reports is a false
alarm, and a verdict of "noise unknown" is what a measured metric gets without enough runs.
Then, to show the comparison still sees a real change, one scenario of B gets its measured
peak raised by 10% (PLANT) in a copy, and that copy is compared with A: it must be flagged,
by name, and nothing else.

    python -m bench.aa SWEEP [--repetitions 3] [--out DIR]    (also `memsweep bench-aa`)

An existing A or B under DIR is resumed (its ok runs kept): give a new DIR after changing
the code, or the two sides would not be the same code.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pandas as pd
import tomllib

from analysis.regress import UNKNOWN, Comparison, compare
from analysis.sources import load_sources
from analysis.tidy import enrich
from results.store import runs_dir
from slurm.local import run_sweep
from suite.errors import UserInputError
from suite.sweep import Sweep, parse_sweep

PLANT = 1.10  # the planted increase of one scenario's measured peak
# The measured peaks of a rank's record raised together: the live tensor bytes (exact) and,
# on the CPU, the RSS they sit in (measured: flagged only with 3+ runs a side).
PEAKS = ("tensor_peak_bytes", "peak_host_rss_bytes")
VERDICTS = ("regression", "better", "same", UNKNOWN)


def with_repetitions(path: Path, repetitions: int) -> Sweep:
    """The sweep file at `path` with `repetitions` runs of each scenario."""
    if not path.is_file():
        raise UserInputError("no such sweep file", source=str(path),
                             fix="give a sweep file, e.g. suite/sweeps/smoke.toml")
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    data.setdefault("sweep", {})["repetitions"] = repetitions
    return parse_sweep(data, source=str(path), base_dir=path.parent)


def counts(result: Comparison) -> dict[str, int]:
    """How many (scenario, metric) rows got each verdict."""
    found = result.table["verdict"].value_counts()
    return {v: int(found.get(v, 0)) for v in VERDICTS}


def side(folder: Path) -> pd.DataFrame:
    return enrich(load_sources([folder]).frame)


def load_range(frame: pd.DataFrame) -> str:
    """The host load the side's ok runs were timed at, e.g. "load 0.4-1.9 on 2 CPUs"."""
    ok = frame[frame["status"] == "ok"]
    load = pd.to_numeric(ok.get("load_average"), errors="coerce").dropna()
    if load.empty:
        return "an unknown load"
    cpus = pd.to_numeric(ok["cpus"], errors="coerce").dropna()
    on = f" on {int(cpus.max())} CPUs" if not cpus.empty else ""
    return f"load {load.min():.1f}-{load.max():.1f} (median {load.median():.1f}){on}"


def plant(source: Path, target: Path) -> str:
    """A copy of the sweep folder `source` at `target` with one scenario's measured peak
    raised by PLANT in every record of it (all its repetitions); the scenario's model and
    strategy, as `compare` names them."""
    shutil.copytree(source, target)
    frame = side(target)
    ok = frame[frame["status"] == "ok"]
    chosen = ok.sort_values("run_id").iloc[0]
    for run_id in ok.loc[ok["scenario_id"] == chosen["scenario_id"], "run_id"]:
        path = runs_dir(target) / f"{run_id}.json"
        record = json.loads(path.read_text())
        for rank in record["ranks"]:
            for key in PEAKS:
                if rank.get(key) is not None:
                    rank[key] = int(rank[key] * PLANT)
        path.write_text(json.dumps(record))
    return f"{chosen['model']} · {chosen['strategy']}"


def run(sweep_file: Path, *, repetitions: int, out: Path) -> int:
    """Exit 0 when the A/A comparison raised no alarm and the planted change was flagged."""
    sweep = with_repetitions(Path(sweep_file), repetitions)
    for name in ("a", "b"):
        # --resume: a rerun of the benchmark keeps the ok runs; a run that was not ok (a
        # fault of the machine, not noise) is run again once, then counted as it ends.
        if run_sweep(sweep, out=out / name, resume=(out / name).exists()) != 0 and \
                run_sweep(sweep, out=out / name, resume=True) != 0:
            print(f"bench-aa: a run of {name.upper()} is not ok twice: see {out / name}; "
                  f"its scenario has fewer runs for the comparison")
    a, b = side(out / "a"), side(out / "b")
    aa = compare(b, a)
    seen = counts(aa)
    alarms = seen["regression"] + seen["better"]
    print(f"bench-aa: {sweep.name} twice, {repetitions} repetition(s), same code: "
          f"{aa.matched} scenarios matched")
    print(f"  A/A verdicts: {alarms} false alarm(s) ({seen['regression']} regression, "
          f"{seen['better']} better), {seen['same']} same, {seen[UNKNOWN]} noise unknown")
    for metric, rows in aa.table.groupby("metric", sort=False):
        by = rows["verdict"].value_counts()
        whys = rows.loc[rows["verdict"] == UNKNOWN, "why"].value_counts()
        print(f"    {metric:15} " + ", ".join(f"{v} {int(by.get(v, 0))}" for v in VERDICTS)
              + "".join(f" ({why}: {n})" for why, n in whys.items()))
    for name, frame in (("A", a), ("B", b)):
        print(f"  {name} timed at {load_range(frame)}")
    shutil.rmtree(out / "b-planted", ignore_errors=True)
    named = plant(out / "b", out / "b-planted")
    planted = compare(side(out / "b-planted"), a)
    hits = planted.regressions
    caught = [f"{r.metric}: {r.model} · {r.strategy} {100 * r.change:+.1f}%"
              for r in hits.itertuples()]
    print(f"  planted +{100 * (PLANT - 1):.0f}% measured peak (tensor bytes, RSS) in {named}: "
          f"{len(hits)} regression(s) flagged" + (f" ({'; '.join(caught)})" if caught else ""))
    # Caught: flagged for the planted scenario, and nothing else flagged.
    flagged = bool(len(hits)) and all(f"{r.model} · {r.strategy}" == named for r in
                                      hits.itertuples())
    return 0 if alarms == 0 and flagged else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.aa", description=__doc__.split("\n")[0])
    p.add_argument("sweep", type=Path)
    p.add_argument("--repetitions", type=int, default=3)
    p.add_argument("--out", type=Path, default=Path("out/bench-aa"))
    args = p.parse_args(argv)
    return run(args.sweep, repetitions=args.repetitions, out=args.out)


if __name__ == "__main__":
    raise SystemExit(main())
