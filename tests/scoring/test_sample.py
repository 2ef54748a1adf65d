"""Detection and fuzzing examples drawn as delphi draws them, checked against the cache's own arrays;
the classification metrics and highlights against hand-worked values. No LLM here."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from autointerp.errors import InputError
from autointerp.scoring.llm_methods import fuzz_marks, highlight, metrics
from autointerp.scoring.sample import EmptyPool, Example, SampleConfig, sample_examples
from autointerp.scoring.split import held_out

CFG = SampleConfig(n_positive=20, n_negative=20)  # the test cache holds 66 windows, not delphi's thousands


def _uniform_pool(layer, n: int) -> dict[int, np.ndarray]:
    """window -> activations (BOS dropped) of the cache's quantile sample and random windows, read raw."""
    a = layer.arrays
    pool = {int(w): np.asarray(a["q_acts"][n, i, 1:], dtype=np.float64) for i, w in enumerate(a["q_win"][n]) if w >= 0}
    for i, w in enumerate(a["r_win"]):
        if w >= 0:
            pool.setdefault(int(w), np.asarray(a["r_acts"][i, 1:, n], dtype=np.float64))
    return pool


def test_positives_come_from_every_decile_and_negatives_never_fire(real_wb):
    layer = real_wb.layer(3)
    s = sample_examples(layer, 74, CFG, seed=0)
    assert len(s.positives) == 20 and len(s.negatives) == 20 and not s.notes
    assert Counter(e.quantile for e in s.positives) == {q: 2 for q in range(10)}  # n // quantiles each

    thr = 0.1 * layer.max_activation(74)
    assert s.threshold == pytest.approx(thr)
    pool = _uniform_pool(layer, 74)
    active = sorted((w for w, acts in pool.items() if acts.max() > thr), key=lambda w: -pool[w].max())
    size = len(active) // 10  # delphi's split_quantiles: equal slices, strongest first, remainder dropped
    assert s.activating_pool == len(active)
    for e in s.positives:
        assert e.window in active[e.quantile * size:(e.quantile + 1) * size]
        acts = pool[e.window]
        peak = int(acts.argmax()) + 1  # window index (BOS at 0)
        assert len(e.tokens) == 32 and e.start <= peak < e.start + 32
        assert e.start == min(max(1, peak - 24), 64 - 32)  # delphi's place for the peak: 24 tokens before
        assert e.activations == pytest.approx(acts[e.start - 1:e.start + 31].tolist(), abs=1e-4)

    randoms = {int(w): i for i, w in enumerate(layer.arrays["r_win"]) if w >= 0}
    for e in s.negatives:
        raw = np.asarray(layer.arrays["r_acts"][randoms[e.window], e.start:e.start + 32, 74], dtype=np.float64)
        assert len(e.tokens) == 32 and e.quantile is None and raw.max() <= thr  # never fires, from the cache
    windows = [e.window for e in s.positives + s.negatives]
    assert len(windows) == len(set(windows))  # no window twice
    again = sample_examples(layer, 74, CFG, seed=0)
    assert [(e.window, e.start) for e in again.positives + again.negatives] == [(e.window, e.start) for e in
                                                                                  s.positives + s.negatives]


def test_the_explainers_windows_are_never_used(real_wb):
    layer = real_wb.layer(3)
    explain, _, _ = held_out(layer, 74)
    shown = frozenset(r.window for r in explain)
    s = sample_examples(layer, 74, CFG, shown, seed=0)
    assert shown and not shown & {e.window for e in s.positives + s.negatives}
    if len(s.positives) < 20:  # on this small cache the explainer holds most windows: said, not hidden
        assert any("positives" in n for n in s.notes)


def test_an_empty_negative_pool_is_a_clear_error(real_wb):
    """L29.N720 fires (above 0) somewhere in every 32-token stretch: delphi's rule leaves no negatives."""
    layer = real_wb.layer(29)
    with pytest.raises(EmptyPool, match="no cached window where the neuron never fires.*raise the fire threshold"):
        sample_examples(layer, 720, SampleConfig(fire_threshold=0.0))
    with pytest.raises(InputError, match="cannot cover 10 quantiles"):
        sample_examples(layer, 720, SampleConfig(n_positive=5))
    with pytest.raises(InputError, match="do not fit the cached windows"):
        sample_examples(layer, 720, SampleConfig(example_len=64))


def test_empty_pool_cli_message(real_settings):
    import subprocess
    import sys

    from tests.conftest import env_for

    r = subprocess.run([sys.executable, "-m", "autointerp.cli", "score", "L29.N720", "articles", "--method",
                        "detection", "--fire-threshold", "0", "--llm", "local"],
                       env=env_for(real_settings, AUTOINTERP_TOKENS="4096"), capture_output=True, text=True, timeout=600)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "never fires" in lines[0], r.stderr


def test_metrics_as_delphi_computes_them():
    truth = [True, True, True, False, False, False]
    pred = [True, False, None, False, True, False]  # one unanswered positive: left out
    m = metrics(truth, pred)
    # answered: 2 positives (1 hit), 3 negatives (2 rejected): precision 1/2, recall 1/2, TNR 2/3
    assert m["failed"] == 1 and m["positives"] == 2 and m["negatives"] == 3
    assert m["precision"] == pytest.approx(0.5) and m["recall"] == pytest.approx(0.5)
    assert m["f1"] == pytest.approx(0.5) and m["balanced_accuracy"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert metrics([True, False], [False, False])["f1"] == 0.0


def test_highlights_as_delphi_marks_them():
    assert highlight(["a", " b", " c", " d"], {1, 2}) == "a<< b c>> d"
    assert highlight(["a", " b"], set()) == "a b"
    toks = [f" t{i}" for i in range(32)]
    pos = Example(0, 1, toks, [0.0] * 10 + [0.65, 2.0, 0.7] + [0.0] * 19, quantile=3)
    assert fuzz_marks(pos, 0.3, 9, np.random.default_rng(0)) == {10, 11, 12}  # >= 0.3 x 2.0 and firing
    assert fuzz_marks(pos, 0.66, 9, np.random.default_rng(0)) == {11, 12}  # above the fire threshold too
    neg = Example(0, 1, toks, [0.0] * 32, quantile=None)
    marks = fuzz_marks(neg, 0.3, 3, np.random.default_rng(0))
    assert len(marks) == 3 and 24 in marks  # delphi: the peak's place first, then random tokens
