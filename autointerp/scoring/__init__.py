"""Scoring explanations: simulation (simulate activations on held-out text, correlate with the real
ones), detection and fuzzing (delphi) and counterfactual texts, each a scorer in `scoring.registry`."""
