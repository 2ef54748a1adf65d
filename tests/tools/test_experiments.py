"""substitute, context, effects and triage on the real model and a real (small) cache."""

import pytest
import torch

from autointerp.errors import InputError
from autointerp.ranges import parse_indices
from autointerp.tools.context import context, render_context_html, without_word
from autointerp.tools.words import alpha_run, word_spans
from autointerp.tools.effects import effects
from autointerp.tools.probe import probe, run_ids
from autointerp.tools.substitute import substitute
from autointerp.tools.triage import triage, write_csv, write_plot

pytestmark = pytest.mark.integration


def test_substitute_reports_real_activations(real_wb, smol):
    res = substitute(real_wb, "L3.N74", examples=6, k=3)
    done = [e for e in res.examples if not e.skipped]
    assert done and res.n_substitutions == sum(len(e.substitutions) for e in done)
    assert 0 <= res.seed_score <= 1
    e = done[0]
    s = e.substitutions[0]
    assert len(e.substitutions) <= 3 and s.synonym.isalpha()
    # the reported activation is what the model gives on the substituted window
    rec = next(r for r in real_wb.layer(3).top(74) if r.window == e.window)
    text = smol.tokenizer.decode(rec.token_ids[1:])
    new_text = text.replace(e.word, s.synonym, 1)
    got = probe(real_wb, "L3.N74", [new_text]).records[0]
    assert max(got.activations[1:]) >= s.activation - 1e-3


def test_substitute_tries_peer_words_apart_and_needs_no_later_token(real_wb):
    res = substitute(real_wb, "L3.N74", examples=3, k=2, peers=["river", "Bank", "river"])
    done = [e for e in res.examples if not e.skipped]
    assert done and res.n_substitutions == sum(len(e.substitutions) for e in done)  # peers kept apart
    e = done[0]
    want = [w for w in ("river", "Bank") if w.lower() != e.word.lower()]
    assert [p.synonym.lower() for p in e.peers] == [w.lower() for w in want]  # each once, in order
    # what the tool measured on the window cut after the new word is what the whole edited window gives
    rec = next(r for r in real_wb.layer(3).top(74) if r.window == e.window)
    a, b = alpha_run(rec.tokens, rec.max_index, int(rec.has_bos))
    word = "".join(rec.tokens[a:b])
    lead = word[: len(word) - len(word.lstrip())]
    for p in e.peers:
        new = real_wb.target.encode(lead + p.synonym)
        full = rec.token_ids[:a] + new + rec.token_ids[b:]
        acts = run_ids(real_wb.target, [full], 3)[0][:, 74]
        assert float(acts[a: a + len(new)].max()) == pytest.approx(p.activation, abs=1e-3)


def test_context_is_causal_and_complete(real_wb):
    res = context(real_wb, "L3.N74", example=0)
    mw = next(w.index for w in res.words if w.is_max_word)
    assert mw < len(res.words) - 1, "the example needs words after its peak"
    assert all(w.edited == (w.index < mw) for w in res.words)  # later words cannot matter: not run
    assert all(w.delta == 0 and w.activation == round(res.original_activation, 5) for w in res.words if w.index > mw)
    assert any(abs(w.delta) > 1e-3 for w in res.words if w.index < mw)
    page = render_context_html(res)
    assert page.count("<span") == len(res.words)
    with_max = context(real_wb, "L3.N74", example=0, include_max=True, mode="replace")
    assert all(w.edited == (w.index <= mw) for w in with_max.words) and with_max.mode == "replace"
    with pytest.raises(InputError, match="out of range"):
        context(real_wb, "L3.N74", example=10_000)


def test_a_deleted_word_window_is_the_context_edit_in_full(real_wb):
    """without_word gives the whole window the context tool measured one position of: the word's
    tokens gone, and at the peak's new position the activation the context edit reported."""
    res = context(real_wb, "L3.N74", example=0)
    rec = real_wb.layer(3).top(74)[0]
    w = max((w for w in res.words if w.edited), key=lambda w: abs(w.delta))
    edited = without_word(real_wb, "L3.N74", rec, w.index)
    a, b = word_spans(rec.tokens, 1)[w.index]
    assert edited.token_ids == rec.token_ids[:a] + rec.token_ids[b:] and edited.window == rec.window
    peak = rec.max_index - (b - a if a < rec.max_index else 0)
    assert edited.activations[peak] == pytest.approx(w.activation, abs=1e-3)
    assert edited.max_activation == pytest.approx(max(edited.activations[1:]), abs=1e-5)


def test_effects_on_the_an_neuron(real_wb, smol):
    """L29.N720: this model's analogue of GPT-2 Large's "an" neuron; it promotes " an" most."""
    res = effects(real_wb, "L29.N720", k=10, contexts=5)
    assert res.promoted[0].token == " an"
    w = smol.w_out(29)[720] * smol.final_norm_weight()
    raw = w @ smol.unembedding()
    assert int(raw.argmax()) == smol.encode(" an")[0]
    assert res.suppressed[0].value < 0 < res.promoted[-1].value
    assert len(res.ablation_lost) == 10 and torch.isfinite(torch.tensor(res.ablation_loss_change))
    p = res.patching
    assert p is not None and p.clean_token != p.corrupt_token and p.corrupt_activation < p.clean_activation
    # measured on windows cut at the max token: the same as the whole windows give
    rec = next(r for r in real_wb.layer(29).top(720) if r.window == p.window)
    corrupt = list(rec.token_ids)
    corrupt[p.position] = smol.encode(p.corrupt_token)[0]
    clean_lp, corrupt_lp = (torch.log_softmax(smol.run(torch.tensor([ids]), logits=True).logits[0, p.position].float(), -1)
                            for ids in (rec.token_ids, corrupt))
    assert smol.tokenizer.decode([int(clean_lp.argmax())]) == p.predicted
    assert float(clean_lp.max()) == pytest.approx(p.clean_logprob, abs=1e-3)
    assert float(corrupt_lp[clean_lp.argmax()]) == pytest.approx(p.corrupt_logprob, abs=1e-3)


def test_triage_table_csv_plot(real_wb, tmp_path):
    res = triage(real_wb, 3, parse_indices("0:30", "neuron range"))
    assert [r.index for r in res.rows] == list(range(30))
    assert max(r.normalised_activation for r in res.rows) == 1.0
    assert all(-1 <= r.relatedness <= 1 and r.flagged == (r.relatedness >= 0.6) for r in res.rows)
    write_csv(res, tmp_path / "t.csv")
    write_plot(res, tmp_path / "t.png")
    assert (tmp_path / "t.csv").read_text().count("\n") == 31
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for bad, message in (("5:5", "empty"), ("x", "malformed")):
        with pytest.raises(InputError, match=message):
            parse_indices(bad, "neuron range")
    with pytest.raises(InputError, match="neuron 1536 is out of range"):
        triage(real_wb, 3, range(1500, 1600))
    with pytest.raises(InputError, match="empty"):
        triage(real_wb, 3, [])


def test_bad_counts_are_named_in_library_terms(real_wb):
    with pytest.raises(InputError, match="^examples and k must be >= 1$"):
        substitute(real_wb, "L3.N74", examples=0)
    with pytest.raises(InputError, match="^k and contexts must be >= 1$"):
        effects(real_wb, "L29.N720", contexts=0)
    with pytest.raises(InputError, match=r"neurons are 0\.\.1535"):
        effects(real_wb, "L29.N99999")
