"""The sweeps memsweep ships (data files; see docs/sweeps.md, "Shipped sweeps")."""
