"""The float16 rounding table behind every cached record's activations."""

from __future__ import annotations

import math

import numpy as np

from autointerp.cache.view import rounded_f16


def test_the_table_rounds_every_float16_as_decimal_formatting_does():
    """Each of the 65,536 float16 values, rounded to 5 decimals by the table, equals its correctly
    rounded decimal spelling (an independent route: string formatting, not round())."""
    table = rounded_f16()
    values = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    for bits, v in enumerate(values.astype(np.float64).tolist()):
        if math.isfinite(v):
            assert table[bits] == float(f"{v:.5f}"), (bits, v)
        else:
            assert math.isnan(v) == math.isnan(table[bits]) and (math.isnan(v) or table[bits] == v)
    strided = np.array([[1.5, -2.25], [0.1, 3.0]], dtype=np.float16)[:, 0]  # a column, as a random window's
    assert table[strided.view(np.uint16)].tolist() == [round(float(np.float16(v)), 5) for v in (1.5, 0.1)]
