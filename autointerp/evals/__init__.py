"""Evals of the explainers: planted neurons with known concepts, real neurons' held-out scores, and
output neurons whose promoted token an explanation should name."""
