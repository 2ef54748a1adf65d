"""Seeded bootstrap confidence intervals (numpy): percentile intervals of resampled means."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from autointerp.evals.records import Interval

RESAMPLES = 10_000


def bootstrap_mean(values: Sequence[float], seed: int = 0, resamples: int = RESAMPLES) -> Interval:
    """The mean and its 95% percentile interval over `resamples` resamples with replacement; for a
    paired comparison pass the per-neuron differences, so the pairing is kept."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return Interval(mean=float("nan"), low=float("nan"), high=float("nan"), n=0, resamples=resamples)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return Interval(mean=round(float(x.mean()), 4), low=round(float(low), 4), high=round(float(high), 4),
                    n=int(x.size), resamples=resamples)


def bootstrap_difference(a: Sequence[float], b: Sequence[float], seed: int = 0,
                         resamples: int = RESAMPLES) -> Interval:
    """mean(a) − mean(b) of two independent samples (no pairing: different units), each resampled on
    its own; the 95% percentile interval of the resampled differences. n is the smaller sample."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.size == 0 or y.size == 0:
        return Interval(mean=float("nan"), low=float("nan"), high=float("nan"), n=0, resamples=resamples)
    rng = np.random.default_rng(seed)
    diffs = (x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
             - y[rng.integers(0, y.size, size=(resamples, y.size))].mean(axis=1))
    low, high = np.percentile(diffs, [2.5, 97.5])
    return Interval(mean=round(float(x.mean() - y.mean()), 4), low=round(float(low), 4), high=round(float(high), 4),
                    n=int(min(x.size, y.size)), resamples=resamples)
