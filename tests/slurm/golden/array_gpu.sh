#!/bin/bash
# memsweep: sweep smoke, 3 scenarios; this job array runs those that take 2 nodes.
# Task i runs scenario i of plan.json; resubmit with: memsweep submit --resume
#SBATCH --job-name=memsweep-smoke
#SBATCH --array=0-2
#SBATCH --nodes=2
#SBATCH --ntasks=8
#SBATCH --cpus-per-task=8
#SBATCH --gres=gpu:4
#SBATCH --time=00:20:00
#SBATCH --partition=gpu-h100
#SBATCH --account=ml-bench
#SBATCH --qos=high
#SBATCH --output=/scratch/memsweep/smoke/logs/slurm-%A_%a.out
#SBATCH --signal=B:USR1@120
set -euo pipefail
export MEMSWEEP_MPI=pmix
exec /opt/venv/bin/python -m slurm.task --plan /scratch/memsweep/smoke/plan.json --out /scratch/memsweep/smoke --index "$SLURM_ARRAY_TASK_ID"
