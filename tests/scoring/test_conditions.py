"""The condition an explanation states, and the offline simulator reading it (issue 31)."""

from __future__ import annotations

import pytest

from autointerp.agent.compose import Draft
from autointerp.records import ActivationRecord
from autointerp.scoring.conditions import Condition, condition, items
from autointerp.scoring.simulators import (
    EmbeddingSimulator,
    EmbeddingV1Simulator,
    get_simulator,
)


@pytest.mark.parametrize("text, want", [
    ('the word "bank" in contexts about river, water, shore (not money, loan)',
     Condition('the word "bank"', "river, water, shore", "money, loan")),
    ('the word "capital" when the text is about letters of the alphabet',
     Condition('the word "capital"', "the text is about letters of the alphabet")),
    ('"left" when someone departs, but not when it is a direction',
     Condition('"left"', "someone departs", "it is a direction")),
    ('the token "will" in sentences about the future (not when about testaments)',
     Condition('the token "will"', "the future", "testaments")),
])
def test_conditions_parse(text, want):
    assert condition(text) == want


@pytest.mark.parametrize("text", [
    'the words "dog", "cat", "horse"',
    'animals: words like "dog", "cat"',
    'the phrases "it will", "They will"',
    'the words "will" after "it"',  # a phrase the two-word views match, not a context condition
    'exactly the word "Andorra" (not similar words)',
    "fires when the text is about money",  # a topic: nothing for a token to match
    'the word "bank" when',  # a marker with nothing after it
])
def test_no_condition(text):
    assert condition(text) is None


def test_a_topic_with_triggers_has_a_head():
    assert condition("fires on bank when the text is about rivers", ["bank"]) == Condition(
        "fires on bank", "the text is about rivers")


def test_items():
    assert items("river, water or shore") == ["river", "water", "shore"]
    assert items("the text is about rivers") == ["rivers"]


def _record(text: str, word: str) -> ActivationRecord:
    """A window split into words as a tokenizer with leading spaces would; `word` at 1.0, else 0."""
    tokens = [t if i == 0 else " " + t for i, t in enumerate(text.split())]
    acts = [1.0 if t.strip() == word else 0.0 for t in tokens]
    i = acts.index(1.0)
    return ActivationRecord(window=0, tokens=tokens, token_ids=list(range(len(tokens))), activations=acts,
                            max_index=i, max_token=tokens[i], max_activation=1.0, has_bos=False)


CITY = ["The president moved the government to the new capital of the country",
        "Paris is the capital of France and its largest city",
        "The rebels marched on the capital of the province"]
LETTER = ["Names of people always begin with a capital letter",
          "In the alphabet each capital is followed by its small letter",
          "Write your surname in capital letters please"]


def _at_word(preds: list[list[float]], records: list[ActivationRecord]) -> list[float]:
    return [p[r.max_index] for p, r in zip(preds, records)]


def test_a_condition_separates_the_senses_of_one_word():
    records = [_record(s, "capital") for s in CITY + LETTER]
    text = 'the word "capital" in contexts about government, country, city (not letter, alphabet)'
    new = _at_word(EmbeddingSimulator().predict(text, ["capital"], records), records)
    old = _at_word(EmbeddingV1Simulator().predict(text, ["capital"], records), records)
    assert min(new[:3]) > max(new[3:]), new  # the city sense above every letter sense
    assert max(old) - min(old) < 1.0, old  # the words alone cannot tell them apart
    other = _at_word(EmbeddingSimulator().predict(
        'the word "capital" in contexts about letters, alphabet, writing (not city, country)', ["capital"],
        records), records)
    assert min(other[3:]) > max(other[:3]), other


@pytest.mark.parametrize("text, triggers", [
    ('the words "capital", "city"', ["capital", "city"]),
    ('the phrases "the capital", "capital letter"', ["the capital", "capital letter"]),
    (Draft('exactly the word "capital" (not similar words)', ["capital"], "exact").text, ["capital"]),
])
def test_word_lists_score_as_before(text, triggers):
    """No condition stated: the same predictions as the simulator before it read conditions."""
    records = [_record(s, "capital") for s in CITY + LETTER]
    assert EmbeddingSimulator().predict(text, triggers, records) == EmbeddingV1Simulator().predict(
        text, triggers, records)


def test_the_earlier_simulator_is_registered():
    assert get_simulator("embedding-v1").name == "embedding-v1"
    assert get_simulator("embedding").contexts


def test_a_condition_may_name_only_where_the_word_is_silent():
    assert condition('the word "left" (not in contexts with "from", "the")') == Condition(
        'the word "left"', "", '"from", "the"')
    records = [_record(s, "capital") for s in CITY + LETTER]
    silent = _at_word(EmbeddingSimulator().predict('the word "capital" (not in contexts with "letter", "alphabet", '
                                                   '"names", "write")', ["capital"], records), records)
    assert min(silent[:3]) > max(silent[3:]), silent



def test_matched_tokens_in_fitting_contexts_all_keep_their_prediction():
    """The gate is measured from how the text at large reads against the condition: when every
    matched token sits in a context that fits, none falls to the floor (scaled among the matched
    tokens alone, the least fitting of them always did)."""
    other = ["The dog chased the red ball across the garden all afternoon",
             "She planted tomatoes and beans in the warm spring soil",
             "The orchestra played a slow waltz for the dancers"]
    seats = ["The president and the government moved to the new capital",
             "The parliament of the country sits in the capital",
             "The national government of the country is based in the capital"]
    records = [_record(s, "capital") for s in seats] + [_record(s, s.split()[3]) for s in other]
    text = 'the word "capital" in contexts about government, country, city'
    gated = _at_word(EmbeddingSimulator().predict(text, ["capital"], records), records)[:3]
    plain = _at_word(EmbeddingSimulator().predict('the word "capital"', ["capital"], records), records)[:3]
    assert min(g / p for g, p in zip(gated, plain)) > 0.5, (gated, plain)
