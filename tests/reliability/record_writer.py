"""A process that writes one run's record over and over until it is killed (for the
SIGKILL-at-a-random-point test of promise 3).

    python record_writer.py ROOT PAD_BYTES [--naive]

Version k of the record has attempt k and a log tail of PAD_BYTES copies of one letter
(chr(97 + k % 26)): a reader can tell a whole version from a mix or a part. It prints
"ready" once its imports are done. --naive writes in place (open, dump), as a writer
without results.store would: the control that shows the kills land mid-write.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from results.schema import RunRecord
from results.store import record_path, write_record
from suite.scenario import Scenario

SCENARIO = Scenario.from_values(sweep="atomic", values={"model": "tiny"})


def version(k: int, pad: int) -> RunRecord:
    return RunRecord(run_id=SCENARIO.run_id, attempt=k, status="failed", sweep="atomic",
                     scenario=SCENARIO.to_json(), started_at="2026-11-25T19:00:00+00:00",
                     finished_at="2026-11-25T19:00:01+00:00", duration_s=1.0,
                     reason=f"version {k}", log_tail=chr(97 + k % 26) * pad)


def main() -> None:
    root, pad, naive = Path(sys.argv[1]), int(sys.argv[2]), "--naive" in sys.argv
    print("ready", flush=True)
    k = 0
    while True:
        k += 1
        if naive:
            path = record_path(root, SCENARIO.run_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "w") as f:
                json.dump(version(k, pad).to_json(), f, indent=1, sort_keys=True)
        else:
            write_record(root, version(k, pad))


if __name__ == "__main__":
    main()
