#!/bin/bash
# memsweep: sweep smoke, 2 scenarios; this job array runs those that take 2 nodes.
# Task i runs scenario i of plan.json; resubmit with: memsweep submit --resume
#SBATCH --job-name=memsweep-smoke
#SBATCH --array=1%1
#SBATCH --nodes=2
#SBATCH --ntasks=2
#SBATCH --cpus-per-task=1
#SBATCH --mem=4G
#SBATCH --time=00:20:00
#SBATCH --partition=two
#SBATCH --output=/scratch/memsweep/smoke/logs/slurm-%A_%a.out
#SBATCH --signal=B:USR1@120
set -euo pipefail
export MEMSWEEP_MPI=pmi2
exec /opt/venv/bin/python -m slurm.task --plan /scratch/memsweep/smoke/plan.json --out /scratch/memsweep/smoke --index "$SLURM_ARRAY_TASK_ID"
