"""One real scenario through the real worker: DeepSpeed on 2 CPU ranks under the real mpiexec."""

from __future__ import annotations

import pytest
from executor_support import leftovers, make_sweep, records

from results.store import log_path
from slurm.local import run_sweep


@pytest.mark.slow
def test_a_tiny_scenario_runs_for_real_on_two_ranks(tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MEMSWEEP_MPIEXEC", raising=False)
    sweep, out = make_sweep(timeout_s=600), tmp_path / "out"
    assert run_sweep(sweep, out=out) == 0, log_path(out, sweep.scenarios[0].run_id).read_text()
    [record] = records(sweep, out)
    assert (record.status, record.attempt) == ("ok", 1)
    assert len(record.ranks) == 2 and record.measurements.step_time_s > 0
    assert record.fingerprint["launcher"] == "mpi"
    assert not leftovers(str(tmp_path))
