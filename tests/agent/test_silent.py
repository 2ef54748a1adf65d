"""Contrast windows on the real model: where a neuron's peak word occurs and the neuron stays silent."""

from __future__ import annotations

import pytest

from autointerp.agent.findings import SILENT, whole_word
from autointerp.agent.session import open_session
from autointerp.agent.tools import CONTRAST_SPAN, N_CONTRASTS, record_peaks, record_silent
from autointerp.scoring.simulation import score_records
from autointerp.tools.probe import run_ids

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def silent_session(real_wb):
    """The first layer-3 neuron (of 64) whose peak words also occur silent in the cache."""
    for n in range(64):
        s = open_session(real_wb, f"L3.N{n}")
        record_peaks(s)
        record_silent(s)
        if s.contrasts:
            return s
    pytest.fail("no layer-3 neuron of 64 has a silent peak word in the test cache")


def test_a_contrast_window_ends_at_a_silent_peak_word_and_reads_what_the_model_gives(silent_session, real_wb):
    s = silent_session
    words = {p.word.lower() for p in s.findings.peaks}
    held = {r.window for r in s.validation + s.test}
    assert 0 < len(s.contrasts) <= N_CONTRASTS and len(s.contrasts) == len(s.findings.silent)
    for rec, found in zip(s.contrasts, s.findings.silent):
        assert rec.window == found.window and rec.window not in held, "never a validation or test window"
        last = len(rec.tokens) - 1
        assert whole_word(rec, last)[0].lower() == found.word.lower() and found.word.lower() in words
        assert found.phrase.endswith(found.word) and last > int(rec.has_bos)
        assert rec.activations[last] < SILENT * s.max_activation
        # the cut window's activations are what the model gives on it alone (a causal neuron)
        acts = run_ids(real_wb.target, [rec.token_ids], s.neuron.layer)[0][:, s.neuron.index]
        assert acts[int(rec.has_bos):].tolist() == pytest.approx(rec.activations[int(rec.has_bos):], abs=2e-3)
        assert rec.max_activation == pytest.approx(max(rec.activations[int(rec.has_bos):]), abs=1e-5)
        # at most CONTRAST_SPAN tokens of the window, ending at the word; never an explainer's peak
        body = rec.token_ids[int(rec.has_bos):]
        assert 3 <= len(body) <= CONTRAST_SPAN
        shown = next((r for r in s.explain if r.window == rec.window), None)
        if shown is not None:
            ends = [i for i in range(len(body) - 1, len(shown.token_ids)) if shown.token_ids[i - len(body) + 1: i + 1] == body]
            assert ends and all(not i - len(body) < shown.max_index <= i for i in ends)


def test_contrast_windows_join_validation(silent_session):
    """Validation scores the contrast windows with the rest: a candidate naming the word alone is
    scored on the places where that word is silent too."""
    s = silent_session
    word = s.findings.silent[0].word
    text = f'the word "{word}"'
    got = s.validate(text, [word], "score").validation
    whole = score_records(text, [word], s.validation + s.counterexamples + s.contrasts, s.max_activation, s.simulator)
    alone = score_records(text, [word], s.validation + s.counterexamples, s.max_activation, s.simulator)
    assert got == pytest.approx(whole.value, abs=1e-4)
    assert whole.n_tokens == alone.n_tokens + sum(len(r.tokens) - int(r.has_bos) for r in s.contrasts)
