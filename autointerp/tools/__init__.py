"""Neuron experiment tools: typed library functions, each also a CLI command (and later an agent tool)."""
