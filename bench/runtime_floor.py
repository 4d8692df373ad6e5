"""`memsweep bench-runtime`: what a rank's runtime adds to its tensors under host_mem_cap.

host_mem_cap is RLIMIT_DATA: it counts VmData (private writable mappings, touched or not),
not live tensors. A run fits when its peak VmData does; the analytical model predicts the
tensor peak (suite/peak_model.py) and adds the runtime as a named term
(suite/prediction.py RUNTIME_BYTES). This command measures that term: it runs a sweep's
combinations without the cap, at the given models, while a sampler thread reads each rank's
/proc/PID/status every few milliseconds, and prints per rank the peak VmData, the predicted
tensor peak and their difference, the runtime the cap sees. The peak is also taken from the
kernel's VmPeak (peak VmSize) less what is not data at the end (VmSize - VmData), which a
sampler cannot miss; both are printed.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from results.load import load_records
from slurm.local import run_sweep
from suite.peak_model import predict_peak
from suite.prediction import runtime_bytes
from suite.sweep import Sweep, load_sweep, parse_sweep, read_toml

MIB = 2**20
INTERVAL_S = 0.004
UNREACHED_CAP = "64GiB"


@dataclass
class _Seen:
    run_id: str
    rank: int
    peak_data: int = 0
    vmpeak_data: int = 0  # VmPeak - (VmSize - VmData) at the last look


@dataclass
class Sampler:
    """Peak VmData of every process running `jobs.worker` into `out`, keyed by pid."""

    out: Path
    seen: dict[int, _Seen] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Sampler:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        last_scan = 0.0
        while not self._stop.is_set():
            if time.monotonic() - last_scan > 0.2:
                self._scan()
                last_scan = time.monotonic()
            for pid, s in list(self.seen.items()):
                status = _status(pid)
                if status:
                    s.peak_data = max(s.peak_data, status["VmData"])
                    s.vmpeak_data = status["VmPeak"] - status["VmSize"] + status["VmData"]
            time.sleep(INTERVAL_S)

    def _scan(self) -> None:
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) in self.seen:
                continue
            try:
                argv = Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            args = [a.decode(errors="replace") for a in argv]
            if "jobs.worker" in args and str(self.out) in args and "--run-id" in args \
                    and (rank := _rank(int(name))) is not None:  # not mpiexec itself
                self.seen[int(name)] = _Seen(run_id=args[args.index("--run-id") + 1], rank=rank)


def _rank(pid: int) -> int | None:
    """The MPI rank a process was started as (Open MPI's or MPICH's variable)."""
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for item in env:
        key, _, value = item.decode(errors="replace").partition("=")
        if key in ("OMPI_COMM_WORLD_RANK", "PMI_RANK"):
            return int(value)
    return None


def _status(pid: int) -> dict[str, int] | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    out = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmData", "VmPeak", "VmSize"):
            out[key] = int(rest.split()[0]) * 1024
    return out if len(out) == 3 else None


def uncapped_sweep(path: Path, models: list[str]) -> Sweep:
    """The sweep at `path` with its search replaced by `models` and a cap no run reaches (the
    ranks take the capped path, jobs/oom.py, without failing)."""
    data = read_toml(path)
    blocks = data["axes"] if isinstance(data["axes"], list) else [data["axes"]]
    plain = {k: v for k, v in data.items() if k != "search"}
    plain["axes"] = [{**b, "model": models} for b in blocks]
    plain["sweep"] = {**data["sweep"], "host_mem_cap": UNREACHED_CAP}
    plain["sweep"]["name"] = f"{data['sweep']['name']}-runtime"
    return parse_sweep(plain, source=f"{path} (uncapped, at {models})", base_dir=path.parent)


def run(path: Path, models: list[str], out: Path) -> int:
    sweep = uncapped_sweep(path, models or [load_sweep(path).search.lower])
    out = out.resolve()
    print(f"bench-runtime: {path}: {len(sweep.scenarios)} runs, capped at {UNREACHED_CAP}, "
          f"into {out}; load average {os.getloadavg()[0]:.1f}")
    with Sampler(out=out) as sampler:
        code = run_sweep(sweep, out=out)
    records = {r.run_id: r for r in load_records(out)[0]}
    print(f"{'scenario':58} {'rank':>4} {'VmData pk':>9} {'(VmPeak)':>9} {'tensor pk':>9} "
          f"{'runtime':>8} {'model':>6}  MiB")
    by_run: dict[str, list[_Seen]] = {}
    for s in sampler.seen.values():
        by_run.setdefault(s.run_id, []).append(s)
    for scenario in sweep.scenarios:
        record = records.get(scenario.run_id)
        if record is None or record.status != "ok":
            print(f"{scenario.run_id}: {record.status if record else 'no record'}")
            continue
        seen = {s.rank: s for s in by_run.get(scenario.run_id, [])}
        label = " ".join(f"{k}={scenario.values[k]}" for k in
                         ("model", "zero_stage", "offload_optimizer"))
        for m in sorted(record.ranks, key=lambda m: m.rank):
            predicted = predict_peak(scenario.values, rank=m.rank).peak_bytes
            s = seen.get(m.rank) or _Seen(run_id=scenario.run_id, rank=m.rank)
            print(f"{label[:58]:58} {m.rank:4} {s.peak_data / MIB:9.1f} "
                  f"{s.vmpeak_data / MIB:9.1f} {(m.tensor_peak_bytes or 0) / MIB:9.1f} "
                  f"{(s.peak_data - predicted) / MIB:8.1f} "
                  f"{runtime_bytes(scenario.values) / MIB:6.1f}")
    print(f"load average {os.getloadavg()[0]:.1f}")
    return code
