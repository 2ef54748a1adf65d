"""What the agent's record says a unit promotes when ablation on its top contexts does not show it:
only one word whose forms lead the direct logit attribution."""

from __future__ import annotations

import pytest

from autointerp.agent.agentic import dla_family
from autointerp.tools.effects import TokenEffect


def effects(*pairs):
    return [TokenEffect(token=t, value=v) for t, v in pairs]


@pytest.mark.parametrize("promoted, forms", [
    (effects((" it", .55), (" It", .43), ("it", .40), ("It", .39), (" its", .27)), ["it", "It"]),
    (effects((" or", .9), (" Or", .5), (" and", .4), ("OR", .3)), ["or", "Or", "OR"]),
    (effects((" or", .9), (" Or", .5), (" and", .4), (" nor", .3)), []),  # two forms only
    (effects((" or", .9), (" and", .5), (" Or", .4), ("or", .3)), []),  # the second token is another word
    (effects((" it", 0.0), (" It", 0.0), ("it", 0.0)), []),  # no output weights (a planted neuron)
    (effects((" ", .9), (" ", .5), (" ", .4)), []),  # whitespace is not a word
    (effects((" it", .5),), []),
])
def test_one_word_must_lead_the_attribution(promoted, forms):
    assert dla_family(promoted) == forms
