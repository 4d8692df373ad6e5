"""bench-report's history: written quickly, in processes, yet the same records as the store's."""

import json

from bench.report_scale import _median, _ratio, _write_parallel, bench_history
from bench.synthetic import STRATEGIES, History, write_history


def test_the_quick_parallel_history_is_the_stores(tmp_path):
    history = History(nights=3, partitions=("gpu-a100", "gpu-h100"), models=("125m", "350m"),
                      world_sizes=(8,), strategies=STRATEGIES[:3], repetitions=1,
                      plant={"memory": 1.10})
    assert write_history(tmp_path / "store", history) == _write_parallel(tmp_path / "quick",
                                                                         history) == 36
    store = sorted(p.relative_to(tmp_path / "store")
                   for p in (tmp_path / "store").rglob("*.json"))
    quick = sorted(p.relative_to(tmp_path / "quick")
                   for p in (tmp_path / "quick").rglob("*.json"))
    assert store == quick and len(store) == 36
    # the same JSON (a float's text may differ: 4.59e-05 / 0.0000459, the same number)
    assert all(json.loads((tmp_path / "store" / p).read_bytes())
               == json.loads((tmp_path / "quick" / p).read_bytes()) for p in store)


def test_medians_and_ratios_to_the_targets():
    runs = [{"records": 100_602, "load_s": load, "report_s": report, "load_cpu_s": 1.0,
             "report_cpu_s": 2.0, "pages": 40, "peak_rss_mib": 500.0, "worker_rss_mib": 0.0}
            for load, report in ((1.0, 9.0), (5.0, 5.0), (2.0, 30.0))]
    r = _median(runs, "cold")
    assert r["total_s"] == 10.0 and r["load_s"] == 2.0  # the median of the sums
    assert _ratio(r) == "0.67 of 15 s (meets)"
    assert _ratio({**r, "kind": "warm"}) == "2.00 of 5 s (MISSES)"
    assert _ratio({**r, "records": 50_000}) == ""  # no target at this size
    assert 990_000 < bench_history(1_000_000).size() < 1_010_000
