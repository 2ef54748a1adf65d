"""Output-neuron selection on the real model, and the does-it-name-the-token judge."""

from __future__ import annotations

import pytest

from autointerp.evals.output import nameable, names_token, scan, select


@pytest.mark.parametrize("text, token, named", [
    ('fires on articles; it promotes "an", "a" as the next token', " an", True),
    ("fires on an article before a noun", " an", False),
    ("predicts the word season after the", " season", True),
    ("the tokens 'the', 'of'", " the", True),
    ("seasonal words", " season", False),
    (None, " an", False),
])
def test_names_token(text, token, named):
    assert names_token(text, token) is named


def test_nameable():
    assert nameable(" an") and nameable("Season") and not nameable(" a") and not nameable(" 19") and not nameable(".")


@pytest.mark.integration
def test_scan_ranks_nameable_top_tokens_by_margin(smol):
    found = scan(smol, [29], 5)
    print(found)
    assert len(found) == 5 and all(nameable(o.top_token) for o in found)
    assert [o.margin for o in found] == sorted((o.margin for o in found), reverse=True)
    assert all(o.neuron.startswith("L29.N") and o.margin > 3 for o in found)


@pytest.mark.integration
def test_ranks_select_the_same_order_past_the_top(smol):
    """`--ranks 3-5,7`: the scan's own order, past the neurons the top-N eval explains."""
    top = scan(smol, [20, 29], 7)
    assert select(smol, [20, 29], 7) == top
    assert select(smol, [20, 29], 0, ranks=[3, 4, 5, 7]) == [top[2], top[3], top[4], top[6]]
