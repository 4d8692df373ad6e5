"""The memsweep command line: the one package that wires the layers together."""
