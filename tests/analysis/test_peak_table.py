"""`memsweep peak-table`: one row per ok training scenario, each rank's peaks in MiB."""

from sweepdata import make_record

from analysis.peak_table import HEADER, MiB, peak_table
from results.store import write_record


def test_one_row_per_scenario_with_each_ranks_peaks(tmp_path):
    records = [make_record(model=m, stage=s, offload="none", tensor_peaks=True)
               for m in ("small", "tiny") for s in (3, 0)]
    records.append(make_record(model="tiny", stage=1, offload="none", status="oom"))
    records.append(make_record(model="tiny", stage=2, offload="none"))  # no tensor peak
    for r in records:
        write_record(tmp_path / "smoke", r)
    lines = peak_table([tmp_path / "smoke"]).splitlines()
    assert lines[0] == "| " + " | ".join(HEADER) + " |"
    rows = [line.strip("| ").split(" | ") for line in lines[2:]]
    assert [row[:2] for row in rows] == [["tiny", "0"], ["tiny", "3"], ["small", "0"],
                                         ["small", "3"]]
    tiny3 = next(r for r in records if r.scenario["params"]["model"] == "tiny"
                 and r.scenario["params"]["zero_stage"] == 3)
    measured = rows[1][5].split("/")  # rank 1 measured 1% more than rank 0 (sweepdata)
    assert measured == [f"{k.tensor_peak_bytes / MiB:.2f}" for k in tiny3.ranks]
    assert rows[1][6] == f"{tiny3.ranks[0].predicted.peak_bytes / MiB:.2f}"
    assert rows[1][7] == "1.000/1.010"
    rss = [k.peak_host_rss_bytes - k.tensor_peak_bytes for k in tiny3.ranks]
    assert rows[1][9] == "/".join(f"{v / MiB:+.0f}" for v in rss)


def test_a_distillation_run_has_its_own_row_with_its_ratio(tmp_path):
    """kind distill is training (the peak model covers it): the record carries its
    prediction, and its row is not merged into the train row of the same columns."""
    records = [make_record(model="tiny", stage=0, offload="none", tensor_peaks=True, **extra)
               for extra in ({}, {"kind": "distill", "teacher": "small"})]
    for r in records:
        write_record(tmp_path / "s", r)
    rows = [line.strip("| ").split(" | ") for line in peak_table([tmp_path / "s"]).splitlines()[2:]]
    assert [row[0] for row in rows] == ["tiny", "tiny (kind=distill teacher=small)"]
    assert rows[1][7] == "1.000/1.010"


def test_where_nvme_offload_swaps_is_not_an_axis_of_the_row(tmp_path):
    """nvme_path is a setting of NVMe offload (where it swaps), not a choice that changes a
    byte: it does not split rows or lengthen the model cell."""
    r = make_record(model="tiny", stage=3, offload="nvme", tensor_peaks=True,
                    nvme_path="/local/swap")
    write_record(tmp_path / "s", r)
    lines = peak_table([tmp_path / "s"]).splitlines()[2:]
    (row,) = [line.strip("| ").split(" | ") for line in lines]
    assert row[0] == "tiny" and row[2] == "nvme"
