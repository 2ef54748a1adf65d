"""What the agent's record says a unit promotes when ablation on its top contexts does not show it:
only one word whose forms lead the direct logit attribution (its first two tokens and three of ten,
or far ahead of every other word)."""

from __future__ import annotations

import pytest

from autointerp.agent.agentic import dla_family
from autointerp.tools.effects import TokenEffect


def effects(*pairs):
    return [TokenEffect(token=t, value=v) for t, v in pairs]


@pytest.mark.parametrize("promoted, forms", [
    (effects((" it", .55), (" It", .43), ("it", .40), ("It", .39), (" its", .27)), ["it", "It"]),
    (effects((" or", .9), (" Or", .5), (" and", .4), ("OR", .3)), ["or", "Or", "OR"]),
    (effects((" or", .9), (" Or", .5), (" and", .4), (" nor", .3)), ["or", "Or"]),  # two forms, far ahead
    (effects((" or", .9), (" and", .5), (" Or", .4), ("or", .3)), ["or", "Or"]),  # another word second, far behind
    (effects((" or", .9), (" and", .7), (" Or", .4), ("or", .3)), []),  # another word second, close behind
    (effects((" or", .9), (" Or", .7), (" and", .7), (" nor", .3)), []),  # two forms, not far ahead
    (effects((" fact", .9), (" same", .2), (" rest", .1)), []),  # far ahead, but one form only
    # L29.N1509 and L29.N1329, as `autointerp effects` gives them (2026-12-07)
    (effects((" fact", .297), (" same", .185), ("fact", .182), ("same", .176), (" rest", .157), (" Fact", .153),
             ("or", .133), ("Fact", .133), ("ories", .124), (" Same", .122)), ["fact", "Fact"]),
    (effects(("or", .191), ("OR", .105), ("oris", .102), ("orating", .095), ("orian", .093), ("\ufffd", .082),
             ("irements", .081), ("olkien", .081), ("keras", .080), ("ors", .080)), ["or", "OR"]),
    (effects((" it", 0.0), (" It", 0.0), ("it", 0.0)), []),  # no output weights (a planted neuron)
    (effects((" ", .9), (" ", .5), (" ", .4)), []),  # whitespace is not a word
    (effects((" it", .5),), []),
])
def test_one_word_must_lead_the_attribution(promoted, forms):
    assert dla_family(promoted) == forms
