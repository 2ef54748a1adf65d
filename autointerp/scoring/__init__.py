"""Scoring explanations: simulate activations from an explanation on held-out text, correlate with the real ones."""
