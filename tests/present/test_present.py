"""The presentation layer without a model: the best-explanation rule, the confidence groups, Markdown
tables, token shading and the standalone pages' templates."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

from autointerp.present import templates
from autointerp.present.best import best_per_neuron
from autointerp.present.confidence import confidence_groups
from autointerp.present.markdown import table
from autointerp.present.tokens import shade, sparkline, window_markup
from autointerp.records import ActivationRecord, Explanation, HeldOutSplit, Score

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def expl(neuron: str, score: float | None, days: int = 0, explainer: str = "local") -> Explanation:
    split = HeldOutSplit(kind="top-and-random", seed=0, explain_windows=[1], score_top_windows=[2],
                         score_random_windows=[3])
    scores = [] if score is None else [Score(neuron=neuron, model="m", explanation="x", method="simulation",
                                             simulator="embedding", value=score, per_example=[], n_tokens=1,
                                             n_examples=1, split=split)]
    return Explanation(neuron=neuron, model="m", text=f"{explainer} {score}", scores=scores, method="agent",
                       explainer=explainer, prompt_version="agent_v1", created_at=T0 + timedelta(days=days))


def test_best_is_the_highest_defined_score_then_the_newest():
    nan_first = [expl("L1.N0", math.nan, explainer="a"), expl("L1.N0", 0.1, explainer="b")]
    unscored = [expl("L1.N1", None, days=5, explainer="a"), expl("L1.N1", -0.5, explainer="b")]
    tie = [expl("L1.N2", 0.3, days=1, explainer="new"), expl("L1.N2", 0.3, explainer="old")]
    best = best_per_neuron(nan_first + unscored + tie)
    assert {i: (b.explainer, n) for i, (b, n) in best.items()} == {0: ("b", 2), 1: ("b", 2), 2: ("new", 2)}
    assert best_per_neuron(list(reversed(tie)))[2][0].explainer == "new"  # not the order they came in


def test_confidence_groups_take_defined_scores_only():
    class Run:
        def __init__(self, confident, score):
            self.confident, self.score = confident, score

    sure, unsure = confidence_groups([Run(True, 0.4), Run(True, math.nan), Run(False, None), Run(None, 0.9)])
    assert (sure.neurons, sure.scored, sure.mean_score) == (2, 1, 0.4)
    assert (unsure.neurons, unsure.scored, unsure.mean_score) == (1, 0, None)


def test_markdown_table_escapes_pipes_and_newlines():
    assert table(["a", "b"], [["x|y", "two\nlines"]]) == "| a | b |\n|---|---|\n| x\\|y | two lines |\n"


def test_shading_and_windows():
    assert shade(1.0, 2.0) == "rgba(255,120,0,.50)" and shade(-2.0, 2.0) == "rgba(40,110,255,1.00)"
    assert shade(0.01, 2.0) == "" and shade(1.0, 0.0) == ""
    rec = ActivationRecord(tokens=["<bos>", "<b>", "\n"], token_ids=[0, 1, 2], activations=[9.0, 2.0, -1.0],
                           max_index=1, max_token="<b>", max_activation=2.0, window=0, has_bos=True)
    markup = str(window_markup(rec, 2.0))
    assert markup.count("<span") == 2 and "&lt;b&gt;" in markup and "bos" not in markup
    assert '<span class="max" style="background:rgba(255,120,0,1.00)"' in markup and "↵\n" in markup
    assert sparkline([0, 0, 4, 0, 8, 0]) == "▄ █"


def test_standalone_pages_inline_the_app_stylesheet():
    page = templates.render("file.html", title="<t>")
    assert page.startswith("<!DOCTYPE html>") and "<title>&lt;t&gt;</title>" in page
    assert "td.win span.max" in page and "/static/" not in page
