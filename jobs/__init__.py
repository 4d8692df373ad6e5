"""One run: rank discovery, distributed init, model build, DeepSpeed, probes, the record."""
