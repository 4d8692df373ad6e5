#!/bin/bash
# memsweep: sweep smoke, 14 scenarios; this job array runs those that take 1 node.
# Task i runs scenario i of plan.json; resubmit with: memsweep submit --resume
#SBATCH --job-name=memsweep-smoke
#SBATCH --array=3,5,9%2
#SBATCH --nodes=1
#SBATCH --ntasks=2
#SBATCH --cpus-per-task=1
#SBATCH --mem=4G
#SBATCH --time=00:20:00
#SBATCH --partition=debug
#SBATCH --output=/scratch/memsweep/smoke/logs/slurm-%A_%a.out
#SBATCH --signal=B:USR1@30
set -euo pipefail
export MEMSWEEP_MPI=pmi2
exec /opt/venv/bin/python -m slurm.task --plan /scratch/memsweep/smoke/plan.json --out /scratch/memsweep/smoke --index "$SLURM_ARRAY_TASK_ID"
