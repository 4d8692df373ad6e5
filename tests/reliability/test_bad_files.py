"""Promise 5: loading tolerates bad files. Empty, truncated, NUL bytes, not JSON, a wrong
schema version, hand-edited values of the wrong type (in the schema's fields and in the
free-form scenario and fingerprint the report reads), JSON nested too deep, a FIFO or a
device under a record's name: each is quarantined with its problem, never read as a record
and never stops the loading; the report is made from the rest and lists every one of them
on its failures page.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from results.cache import folder_frame
from results.load import load_records
from results.schema import Measurements, RankMetrics, RunRecord
from results.store import record_path, write_record
from slurm.outcome import previous_record
from suite.scenario import Scenario


def record(micro_batch: int, status: str = "ok") -> RunRecord:
    scenario = Scenario.from_values(sweep="bad", values={"model": "tiny",
                                                         "micro_batch": micro_batch})
    ok = status == "ok"
    return RunRecord(
        run_id=scenario.run_id, status=status, sweep="bad", scenario=scenario.to_json(),
        started_at="2026-11-25T19:00:00+00:00", finished_at="2026-11-25T19:00:10+00:00",
        duration_s=10.0,
        measurements=Measurements(step_times_s=(0.1, 0.2, 0.3), step_time_s=0.2,
                                  step_time_iqr_s=0.1, samples_per_s=40.0, tokens_per_s=2560.0,
                                  final_loss=6.9) if ok else None,
        ranks=tuple(RankMetrics(rank=r, hostname="h", params_bytes=100 + r, grads_bytes=10,
                                master_params_bytes=0, optimizer_state_bytes=800,
                                peak_host_rss_bytes=10**9) for r in range(2)) if ok else (),
        fingerprint={"hostname": "h", "torch": "2.13.0", "cpu": "x86"},
        reason=None if ok else "boom", log_tail=None if ok else "Traceback ...")


def edited(edit):
    def make(good: dict) -> bytes:
        edit(good)
        return json.dumps(good).encode()
    return make


# name -> the bytes of the bad file, made from a good record's JSON object
BYTES = {
    "empty": lambda good: b"",
    "truncated": lambda good: json.dumps(good).encode()[:200],
    "nul-bytes": lambda good: b"\x00" * 512,
    "nul-inside": lambda good: json.dumps(good).encode().replace(b'"ok"', b'"o\x00k"'),
    "not-json": lambda good: b"status = ok\n",
    "not-utf8": lambda good: b"\xff\xfe{\x00",
    "too-deep": lambda good: b"[" * 100_000 + b"]" * 100_000,
    "schema-2": edited(lambda d: d.update(schema_version=2)),
    "no-version": edited(lambda d: d.pop("schema_version")),
    "attempt-text": edited(lambda d: d.update(attempt="2")),
    "attempt-bool": edited(lambda d: d.update(attempt=True)),
    "bytes-text": edited(lambda d: d["ranks"][0].update(params_bytes="100")),
    "status-unknown": edited(lambda d: d.update(status="great")),
    "params-list": edited(lambda d: d["scenario"].update(params=[["model", "tiny"]])),
    "model-list": edited(lambda d: d["scenario"]["params"].update(model=["tiny"])),
    "no-params": edited(lambda d: d.update(scenario={})),
    "settings-list": edited(lambda d: d["scenario"].update(settings=[1])),
    "repetition-text": edited(lambda d: d["scenario"].update(repetition="0")),
    "hostname-list": edited(lambda d: d["fingerprint"].update(hostname=["a", "b"])),
}
SPECIAL = ("a-folder", "a-fifo")  # not regular files: never read, a FIFO never waited for


def plant(root: Path, name: str, micro_batch: int) -> Path:
    """The bad file `name`, under the name of its own run (so only its damage is wrong)."""
    good = record(micro_batch)
    path = record_path(root, good.run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    if name == "a-folder":
        path.mkdir()
    elif name == "a-fifo":
        os.mkfifo(path)
    elif name == "a-device":
        path.symlink_to("/dev/zero")  # endless: a reader that read it would never finish
    else:
        path.write_bytes(BYTES[name](good.to_json()))
    return path


def within(seconds: float, call):
    """call(), failing the test if it does not return in time (a FIFO read would block)."""
    done = {}
    t = threading.Thread(target=lambda: done.update(value=call()), daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "blocked on a bad file"
    return done["value"]


@pytest.mark.parametrize("name", [*BYTES, *SPECIAL])
def test_a_bad_file_is_quarantined_and_the_good_ones_load(tmp_path, name):
    good = record(1)
    write_record(tmp_path, good)
    bad_path = plant(tmp_path, name, micro_batch=2)
    records, bad = within(30, lambda: load_records(tmp_path))
    assert records == [good]
    assert [q.path for q in bad] == [str(bad_path)] and bad[0].problem
    for _ in range(2):  # the report's path: without its frame cache, then with it
        read = within(30, lambda: folder_frame(tmp_path))
        assert list(read.frame["run_id"]) == [good.run_id]
        assert list(read.quarantined) == bad
    # What the loader quarantines is no record to resume from either (`memsweep run
    # --resume`, `submit --resume` and `status` ask this): the run is launched again.
    assert within(30, lambda: previous_record(tmp_path, bad_path.name[:-5])) is None
    assert previous_record(tmp_path, good.run_id) == good


@pytest.mark.slow
def test_the_report_is_made_and_lists_every_quarantined_file(tmp_path):
    from matplotlib.text import Text

    from analysis import sections
    from analysis.analysis import analyse
    from analysis.report import make_report
    from analysis.sources import load_sources

    for r in (record(1), record(2), record(3, status="failed")):
        write_record(tmp_path, r)
    names = [*BYTES, *SPECIAL]
    planted = {plant(tmp_path, name, micro_batch=10 + i).name for i, name in enumerate(names)}
    titles = make_report([tmp_path], tmp_path / "report.pdf")  # made from the rest
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")
    assert "Failures and quarantined files" in titles and len(titles) > 2
    sources = load_sources([tmp_path])  # what make_report read
    assert {Path(q.path).name for q in sources.quarantined} == planted
    assert len(sources.frame) == 3
    # The failures section as the report renders it: every planted file is named there.
    text = "".join(t.get_text() for fig in sections.failures(analyse(sources.frame), sources)
                   for t in fig.findobj(Text))
    text = "".join(text.split())  # long paths wrap across lines
    assert all(name in text for name in planted)


def test_a_device_under_a_records_name_is_never_read(tmp_path):
    """/dev/zero never ends: a loader that read it would fill the memory. So the loading runs
    in a child process held to 1 GiB of address space and 60 s."""
    write_record(tmp_path, record(1))
    bad = plant(tmp_path, "a-device", micro_batch=2)
    code = ("import sys; from results.load import load_records; "
            "r, b = load_records(sys.argv[1]); print(len(r), [q.path for q in b])")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))

    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                          text=True, timeout=60, preexec_fn=limit)
    assert done.stdout == f"1 [{str(bad)!r}]\n", done.stderr
