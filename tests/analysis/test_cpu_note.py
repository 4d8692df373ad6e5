import pandas as pd

from analysis.sections import _cpu_offload_note


def test_cpu_runs_get_the_offload_note_and_gpu_runs_do_not():
    note = _cpu_offload_note(pd.DataFrame({"device": ["cpu"]}))
    assert "offloaded bytes stay in the same RAM" in note
    assert _cpu_offload_note(pd.DataFrame({"device": ["cuda"]})) == ""
