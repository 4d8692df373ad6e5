"""`memsweep collect`: the tidy frame of sweep folders as one Parquet or CSV file."""

from __future__ import annotations

import sys
from pathlib import Path

from analysis.sources import load_sources
from suite.errors import UserInputError
from suite.files import replacing

FORMATS = (".parquet", ".csv")


def collect(dirs: list[Path], output: Path) -> None:
    """Write records_frame of every record in `dirs` (plus `source_dir`) to `output`.

    The suffix picks the format; the columns are documented in results/frame.py.
    """
    output = Path(output)
    suffix = output.suffix.lower()
    if suffix not in FORMATS:
        raise UserInputError(
            f"cannot tell the format of {output.name!r} from its suffix", source=str(output),
            fix=f"name the output file with one of {', '.join(FORMATS)}, e.g. runs.parquet")
    sources = load_sources(dirs)
    with replacing(output) as tmp:  # readers see the old file or the new one
        if suffix == ".parquet":
            sources.frame.to_parquet(tmp, index=False)
        else:
            sources.frame.to_csv(tmp, index=False)
    for q in sources.quarantined:
        print(f"collect: quarantined {q.path}: {q.problem}", file=sys.stderr)
    print(f"collect: {len(sources.frame):,} runs from {len(sources.sweep_dirs)} sweep folder(s) "
          f"-> {output}")
