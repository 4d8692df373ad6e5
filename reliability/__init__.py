"""The self-test of memsweep: the fault campaign, its cases, injection, the stand-in worker."""
