#!/bin/bash
# memsweep: report for sweep smoke; runs after every array task has ended.
#SBATCH --job-name=memsweep-smoke-report
#SBATCH --ntasks=1
#SBATCH --time=00:10:00
#SBATCH --partition=debug
#SBATCH --output=/scratch/memsweep/smoke/logs/slurm-report-%j.out
set -uo pipefail
# Every planned run gets its record first, even tasks Slurm killed or never ran.
/opt/venv/bin/python -m memsweep status /scratch/memsweep/smoke --reconcile
exec /opt/venv/bin/python -m memsweep report /scratch/memsweep/smoke -o /scratch/memsweep/smoke/report.pdf
