"""substitute, context, effects and triage on the real model and a real (small) cache."""

import pytest
import torch

from autointerp.errors import InputError
from autointerp.tools.context import context, render_context_html
from autointerp.tools.effects import _final_norm_weight, effects
from autointerp.tools.probe import probe
from autointerp.tools.substitute import substitute
from autointerp.tools.triage import parse_range, triage, write_csv, write_plot

pytestmark = pytest.mark.integration


def test_substitute_reports_real_activations(real_settings, smol):
    res = substitute("L3.N74", examples=6, k=3, settings=real_settings)
    done = [e for e in res.examples if not e.skipped]
    assert done and res.n_substitutions == sum(len(e.substitutions) for e in done)
    assert 0 <= res.seed_score <= 1
    e = done[0]
    s = e.substitutions[0]
    assert len(e.substitutions) <= 3 and s.synonym.isalpha()
    # the reported activation is what the model gives on the substituted window
    from autointerp.cache.view import open_layer

    rec = next(r for r in open_layer(3, settings=real_settings).top(74) if r.window == e.window)
    text = smol.tokenizer.decode(rec.token_ids[1:])
    new_text = text.replace(e.word, s.synonym, 1)
    got = probe("L3.N74", [new_text], settings=real_settings).records[0]
    assert max(got.activations[1:]) >= s.activation - 1e-3


def test_context_is_causal_and_complete(real_settings):
    res = context("L3.N74", example=0, settings=real_settings)
    mw = next(w.index for w in res.words if w.is_max_word)
    assert all(w.edited != w.is_max_word for w in res.words)
    assert all(abs(w.delta) < 1e-4 for w in res.words if w.index > mw)  # later words cannot matter
    assert any(abs(w.delta) > 1e-3 for w in res.words if w.index < mw)
    page = render_context_html(res)
    assert page.count("<span") == len(res.words)
    with_max = context("L3.N74", example=0, include_max=True, mode="replace", settings=real_settings)
    assert all(w.edited for w in with_max.words) and with_max.mode == "replace"
    with pytest.raises(InputError, match="out of range"):
        context("L3.N74", example=10_000, settings=real_settings)


def test_effects_on_the_an_neuron(real_settings, smol):
    """L29.N720: this model's analogue of GPT-2 Large's "an" neuron; it promotes " an" most."""
    res = effects("L29.N720", k=10, contexts=5, settings=real_settings)
    assert res.promoted[0].token == " an"
    w = smol.bridge.blocks[29].mlp.W_out.detach()[720] * _final_norm_weight(smol)
    raw = w @ smol.bridge.W_U.detach()
    assert int(raw.argmax()) == smol.encode(" an")[0]
    assert res.suppressed[0].value < 0 < res.promoted[-1].value
    assert len(res.ablation_lost) == 10 and torch.isfinite(torch.tensor(res.ablation_loss_change))
    p = res.patching
    assert p is not None and p.clean_token != p.corrupt_token and p.corrupt_activation < p.clean_activation


def test_triage_table_csv_plot(real_settings, tmp_path):
    res = triage(3, parse_range("0:30"), settings=real_settings)
    assert [r.index for r in res.rows] == list(range(30))
    assert max(r.normalised_activation for r in res.rows) == 1.0
    assert all(-1 <= r.relatedness <= 1 and r.flagged == (r.relatedness >= 0.6) for r in res.rows)
    write_csv(res, tmp_path / "t.csv")
    write_plot(res, tmp_path / "t.png")
    assert (tmp_path / "t.csv").read_text().count("\n") == 31
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for bad, message in (("5:5", "empty"), ("x", "malformed")):
        with pytest.raises(InputError, match=message):
            parse_range(bad)
    with pytest.raises(InputError, match="out of range"):
        triage(3, range(1500, 1600), settings=real_settings)
