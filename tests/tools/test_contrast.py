"""contrast: the log-odds statistic against a hand computation, and the tool on the real model, corpus
and cache, its edits re-measured independently."""

import json
import math
from collections import Counter

import pytest

from autointerp.embeddings import embed
from autointerp.errors import InputError
from autointerp.tools.contrast import (
    FIRE,
    SILENT,
    WordContrast,
    _Context,
    _topics,
    clean,
    contrast,
    log_odds,
)
from autointerp.tools.probe import run_ids
from tests.tools.test_tools_cli import run

UNIT, WORD, CONTEXT_WORD = "L3.N445", "to", "due"  # fires on " to" after "due" (due to), in the 4,096-token cache


def fightin_words(y_f, y_s, n_f, n_s, a_w, a0):
    """Monroe, Colaresi & Quinn (2008), eq. 16 and 20, written out for one word."""
    omega_f = (y_f + a_w) / (n_f + a0 - y_f - a_w)
    omega_s = (y_s + a_w) / (n_s + a0 - y_s - a_w)
    delta = math.log(omega_f) - math.log(omega_s)
    return delta, delta / math.sqrt(1.0 / (y_f + a_w) + 1.0 / (y_s + a_w))


def test_log_odds_is_fightin_words_with_the_pooled_prior():
    firing = Counter({"river": 6, "the": 10, "water": 3})
    silent = Counter({"money": 8, "the": 12, "loan": 4, "river": 1})
    n_f, n_s = 19, 25
    got = log_odds(firing, silent, alpha0=50.0)
    assert set(got) == {"river", "the", "water", "money", "loan"}
    for word in got:
        a_w = 50.0 * (firing[word] + silent[word]) / (n_f + n_s)
        assert got[word] == pytest.approx(fightin_words(firing[word], silent[word], n_f, n_s, a_w, 50.0), rel=1e-12)
    # hand values: "river" (6 vs 1) marks firing contexts, "money" (0 vs 8) silent ones
    a_river = 50 * 7 / 44
    assert got["river"][0] == pytest.approx(math.log((6 + a_river) / (19 + 50 - 6 - a_river))
                                            - math.log((1 + a_river) / (25 + 50 - 1 - a_river)))
    assert got["river"][1] > 0 > got["money"][1]
    swapped = log_odds(silent, firing, alpha0=50.0)  # the two groups swapped: every sign flips
    assert all(swapped[w] == pytest.approx((-d, -z)) for w, (d, z) in got.items())


def test_context_words_and_summaries():
    assert [clean(w) for w in (' "River,', "  Bank.", "--", "U.S.")] == ["river", "bank", "", "u.s"]
    missing = WordContrast(word="bank", occurrences=0, firing=0, silent=0)
    assert missing.summary() == '"bank" was not found in the corpus'
    assert "never fires" in WordContrast(word="bank", occurrences=5, firing=0, silent=5).summary()
    assert "silent in none" in WordContrast(word="bank", occurrences=5, firing=5, silent=0).summary()


def _ctx(text: str) -> _Context:
    return _Context(window=0, start=0, last=0, ids=[], first=0, spaced=True, text=text,
                    words={clean(w): [(0, 1)] for w in text.split()})


FIRING = ["the yacht fleet sailed out of the harbour for the", "skippers of every yacht entered the annual",
          "the horse was favourite to win the", "thousands of runners lined up for the marathon",
          "the cyclists climbed the mountain stage of the"]
SILENT_CTX = ["the census asked each household to state its ethnic origin and",
              "laws banned discrimination on the basis of", "segregation divided citizens by",
              "she described herself as of mixed"]


def test_topic_direction_and_words_against_a_separate_computation():
    """The leave-one-out AUROC equals scikit-learn's on projections recomputed here, each context on the
    direction fitted without it; the topic words come from their own side."""
    from sklearn.metrics import roc_auc_score

    fire_topic, silent_topic, auroc = _topics([_ctx(t) for t in FIRING], [_ctx(t) for t in SILENT_CTX], 5, {"race"})
    vecs = embed(FIRING + SILENT_CTX).astype("float64")
    labels = [1] * len(FIRING) + [0] * len(SILENT_CTX)
    proj = []
    for i, v in enumerate(vecs):
        keep = [j for j in range(len(vecs)) if j != i]
        f = vecs[[j for j in keep if labels[j]]].mean(0)
        s = vecs[[j for j in keep if not labels[j]]].mean(0)
        proj.append(float(v @ (f - s)))
    assert auroc == pytest.approx(roc_auc_score(labels, proj), abs=1e-4)
    assert auroc > 0.9
    firing_words = {clean(w) for t in FIRING for w in t.split()}
    silent_words = {clean(w) for t in SILENT_CTX for w in t.split()}
    assert fire_topic and silent_topic
    assert all(t.word in firing_words and t.alignment > 0 for t in fire_topic)
    assert all(t.word in silent_words and t.alignment < 0 for t in silent_topic)
    assert {"yacht", "runners", "marathon", "cyclists", "horse"} & {t.word for t in fire_topic}
    assert {"segregation", "ethnic", "discrimination", "census"} & {t.word for t in silent_topic}
    assert not {"the", "of", "for"} & {t.word for t in fire_topic + silent_topic}  # function words name no topic
    assert _topics([_ctx(t) for t in FIRING[:2]], [_ctx(t) for t in SILENT_CTX], 5, set()) == ([], [], None)
    line = WordContrast(word="race", occurrences=9, firing=5, silent=4, fire_topic=fire_topic[:2],
                        silent_topic=silent_topic[:1], topic_auroc=auroc).summary()
    assert f"fires in contexts about {fire_topic[0].word}, {fire_topic[1].word}" in line
    assert f"silent about {silent_topic[0].word} (topic AUROC {auroc:.2f})" in line


def _context_ids(real_wb, occ):
    """An occurrence's measured context, rebuilt from the on-disk windows: BOS, then tokens start..position."""
    tokens = real_wb.layer(3).plan.windows.tokens
    return [real_wb.target.bos_id] + [int(t) for t in tokens[occ.window, occ.start: occ.position + 1]]


@pytest.mark.integration
def test_contrast_on_a_real_neuron_measures_what_it_reports(real_wb):
    res = contrast(real_wb, UNIT, words=[WORD, "Qzxvbwq"])
    peak = real_wb.layer(3).max_activation(445)
    assert res.unit == UNIT and res.max_activation == pytest.approx(peak)
    wc, missing = res.words
    assert missing.occurrences == 0 and missing.summary() == '"Qzxvbwq" was not found in the corpus'
    assert wc.occurrences == len(wc.contexts) > 0 and wc.firing + wc.silent <= wc.occurrences
    acts = [c.activation for c in wc.contexts]
    assert wc.firing == sum(a >= FIRE * peak for a in acts) and wc.silent == sum(a < SILENT * peak for a in acts)
    assert CONTEXT_WORD in [c.word for c in wc.fire_after] and all(c.z >= 1.96 for c in wc.fire_after)
    assert wc.edits and "due" in wc.summary()
    measured = {(c.window, c.position): c.activation for c in wc.contexts}
    for e in wc.edits:
        assert e.n == len(e.contexts) > 0
        assert all(c.before == pytest.approx(measured[c.window, c.position], abs=1e-5) for c in e.contexts)
        assert e.before == pytest.approx(sum(c.before for c in e.contexts) / e.n, abs=1e-4)
        assert e.after == pytest.approx(sum(c.after for c in e.contexts) / e.n, abs=1e-4)
    # independent re-measure: an occurrence, an insertion and a deletion rebuilt from the windows and run again
    by_pos = {(c.window, c.position): c for c in wc.contexts}
    ins = next(e for e in wc.edits if e.word == CONTEXT_WORD and e.kind == "insert").contexts[0]
    dele = next(e for e in wc.edits if e.word == CONTEXT_WORD and e.kind == "delete").contexts[0]
    target, word_ids, new = real_wb.target, real_wb.target.encode(" " + WORD), real_wb.target.encode(" " + CONTEXT_WORD)
    original = _context_ids(real_wb, by_pos[ins.window, ins.position])
    cut = len(original) - len(word_ids)
    assert original[cut:] == word_ids
    deleted = [t for t in _context_ids(real_wb, by_pos[dele.window, dele.position]) if [t] != new]
    seqs = [original, original[:cut] + new + original[cut:], deleted]
    got = [float(a[-1, 445]) for a in run_ids(target, seqs, 3)]
    assert got == pytest.approx([ins.before, ins.after, dele.after], abs=1e-3)


@pytest.mark.integration
def test_contrast_default_words_leave_out_given_windows(real_wb):
    top = real_wb.layer(3).top(445)
    held_out = {r.window for r in top[:10]}
    res = contrast(real_wb, UNIT, n=6, edits=2, windows=held_out)
    assert 1 <= len(res.words) <= 3 and res.words[0].word.lower() == "and"
    assert all(c.window not in held_out for w in res.words for c in w.contexts)
    assert all(0 < w.occurrences <= 6 for w in res.words)
    with pytest.raises(InputError, match=UNIT):
        contrast(real_wb, UNIT, words=[" ", ""])


@pytest.mark.integration
def test_contrast_cli(real_settings):
    r = run(real_settings, "contrast", UNIT, "--words", WORD, "--n", "6", "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["unit"] == UNIT and [w["word"] for w in res["words"]] == [WORD] and res["words"][0]["occurrences"] == 6
    for args, message in ((["L3.X445"], "malformed unit id"), ([UNIT, "--n", "0"], "--n must be >= 1"),
                          ([UNIT, "--words", ","], "no word")):
        r = run(real_settings, "contrast", *args)
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        assert r.returncode == 2 and len(lines) == 1 and message in lines[0], r.stderr
