"""The sweeps memsweep ships (data files; see the README's "Shipped sweeps")."""
