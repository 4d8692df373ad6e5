"""Getting scenarios onto machines: the local executor, sbatch rendering, submission, polling."""
