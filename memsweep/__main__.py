"""`python -m memsweep ...`: what sbatch scripts and subprocesses call."""

from memsweep.cli import main

raise SystemExit(main())
