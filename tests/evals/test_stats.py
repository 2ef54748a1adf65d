"""Bootstrap intervals: seeded, and they behave like intervals."""

from __future__ import annotations

import numpy as np

from autointerp.evals.stats import bootstrap_mean


def test_bootstrap_is_seeded_and_brackets_the_mean():
    x = np.random.default_rng(1).normal(0.3, 0.2, size=40).tolist()
    a, b = bootstrap_mean(x, seed=5), bootstrap_mean(x, seed=5)
    assert a == b and a.resamples == 10_000 and a.n == 40
    assert a.low < a.mean < a.high
    # about ±1.96 standard errors
    se = np.std(x, ddof=1) / np.sqrt(len(x))
    assert abs((a.high - a.low) / (2 * 1.96 * se) - 1) < 0.15


def test_constant_values_give_a_point_interval():
    iv = bootstrap_mean([0.25] * 7)
    assert iv.low == iv.mean == iv.high == 0.25
