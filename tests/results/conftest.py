import pytest

from results.schema import Measurements, RankMetrics, RunRecord
from suite.scenario import Scenario


@pytest.fixture
def make_record():
    def make(status="ok", **params):
        scenario = Scenario.from_values(sweep="t", values={"model": "tiny", **params})
        ok = status == "ok"
        return RunRecord(
            run_id=scenario.run_id, status=status, sweep="t", scenario=scenario.to_json(),
            started_at="2026-11-25T19:00:00+00:00", finished_at="2026-11-25T19:00:10+00:00",
            duration_s=10.0,
            measurements=Measurements(step_times_s=(0.1, 0.2, 0.3), step_time_s=0.2,
                                      step_time_iqr_s=0.1, samples_per_s=40.0,
                                      tokens_per_s=2560.0, final_loss=6.9) if ok else None,
            ranks=tuple(RankMetrics(rank=r, hostname="h", params_bytes=100 + r, grads_bytes=10,
                                    master_params_bytes=0, optimizer_state_bytes=800,
                                    peak_host_rss_bytes=10**9) for r in range(2)) if ok else (),
            fingerprint={"hostname": "h", "torch": "2.13.0"},
            reason=None if ok else "boom", log_tail=None if ok else "Traceback...")
    return make
