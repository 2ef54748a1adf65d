"""Contextual concepts: parsing `[[word]]` marks, one-line errors naming the concept, mixed files,
and the judge's shared-words rule (real MiniLM) on fixed explanation strings."""

from __future__ import annotations

import json

import pytest

from autointerp.evals.concepts import (
    DEFAULT_CONCEPTS,
    Concept,
    ConceptsError,
    ContextConcept,
    load_concepts,
    parse_marked,
    siblings,
)
from autointerp.evals.judge import Judge, says_more, without

POLITICS = ["The Republican [[party]] won.", "The ruling [[party]] fell.", "He left the Labour [[party]].",
            "The [[party]] line held.", "The Green [[party]] grew.", "Party leaders met the [[party]] members."]
CELEBRATION = ["A birthday [[party]] with cake.", "The dinner [[party]] ended late.", "We danced at the [[party]].",
               "A surprise [[party]] for her.", "The wedding [[party]] sang.", "Guests left the [[party]] at one."]
PAIR = [{"name": "party (politics)", "description": "the word party meaning a political party, elections and voters",
         "positive": POLITICS, "negative": CELEBRATION},
        {"name": "party (celebration)", "description": "the word party meaning a celebration with guests, music "
         "and dancing, like a birthday party", "positive": CELEBRATION, "negative": POLITICS}]


def test_marks_are_parsed_to_spans():
    m = parse_marked("Turn [[left]] at the [[church]].")
    assert m.text == "Turn left at the church." and m.words == ["left", "church"]
    assert [m.text[a:b] for a, b in m.spans] == ["left", "church"]


def test_a_file_may_mix_word_lists_and_contextual_concepts(tmp_path):
    words = json.loads(DEFAULT_CONCEPTS.read_text())[:2]
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps(words + PAIR))
    concepts = load_concepts(path)
    assert [type(c) for c in concepts] == [Concept, Concept, ContextConcept, ContextConcept]
    c = concepts[2]
    assert c.marked_words == {"party"}
    assert len(c.sentences("positive", held_out=False)) == 4 and len(c.sentences("positive", held_out=True)) == 2
    assert siblings(concepts, 2) == {3: {"party"}} and siblings(concepts, 0) == {}


def test_the_shipped_file_has_contextual_pairs_and_the_twelve_word_lists():
    concepts = load_concepts()
    assert sum(isinstance(c, Concept) for c in concepts) == 12
    ctx = [i for i, c in enumerate(concepts) if isinstance(c, ContextConcept)]
    assert len(ctx) >= 6 and all(siblings(concepts, i) for i in ctx)


@pytest.mark.parametrize("change, message", [
    (lambda c: c.update(positive=POLITICS[:5]), "entry 1 ('party (politics)'): positive: List should have at least 6"),
    (lambda c: c.update(negative=CELEBRATION[:5] + ["no mark here"]), "no [[word]] marked in 'no mark here'"),
    (lambda c: c.update(positive=POLITICS[:5] + ["a [[broken] mark"]), "no [[word]] marked"),
    (lambda c: c.update(positive=POLITICS[:5] + ["[[a [[b]] c]]"]), "unbalanced or nested"),
    (lambda c: c.update(positive=POLITICS[:5] + ["the [[ party]]"]), "has spaces at its ends"),
    (lambda c: c.update(words=["a", "b", "c", "d", "e"]), "has both words and positive/negative"),
])
def test_a_malformed_contextual_concept_is_one_line_naming_it(tmp_path, change, message):
    items = json.loads(json.dumps(PAIR))
    change(items[0])
    path = tmp_path / "c.json"
    path.write_text(json.dumps(items))
    with pytest.raises(ConceptsError) as e:
        load_concepts(path)
    assert message in str(e.value) and "\n" not in str(e.value)
    assert "'party (politics)'" in str(e.value)


def test_words_are_taken_out_whole():
    assert without('the word "Party" and parties', {"party"}) == 'the word "" and'
    assert without("partying parties party's", {"party"}) == "partying 's"
    assert not says_more('the token " party"', {"party"})
    assert not says_more("fires on the word party (and parties)", {"party"})
    assert says_more("party in political contexts", {"party"})


@pytest.fixture(scope="module")
def judge(tmp_path_factory):
    path = tmp_path_factory.mktemp("judge") / "c.json"
    path.write_text(json.dumps(json.loads(DEFAULT_CONCEPTS.read_text())[:3] + PAIR))
    return Judge(load_concepts(path))


@pytest.mark.parametrize("text", ["the word party", 'the token "party"', "party", "fires on the word party",
                                  'the tokens "party", " party", "Party"',
                                  'No clear explanation; best guess: the tokens "ru", "ë", "party", "man", "of"'])
def test_an_explanation_listing_only_the_shared_word_recovers_neither(judge, text):
    for name in ("party (politics)", "party (celebration)"):
        v = judge.judge(text, name)
        assert v.distinguishes is False and not v.recovered, (name, v)


@pytest.mark.parametrize("text, right, wrong", [
    ('"party" in political contexts: the Republican party, party leaders and elections',
     "party (politics)", "party (celebration)"),
    ("the word party when it means a celebration such as a birthday or dinner party with guests",
     "party (celebration)", "party (politics)"),
    ("political parties", "party (politics)", "party (celebration)"),
])
def test_an_explanation_naming_the_context_recovers_its_concept_only(judge, text, right, wrong):
    v = judge.judge(text, right)
    assert v.recovered and v.distinguishes, v
    w = judge.judge(text, wrong)
    assert not w.recovered and w.distinguishes is False, w


def test_word_list_concepts_are_judged_as_before(judge):
    v = judge.judge("names of animals", "animals")
    assert v.recovered and v.distinguishes is None
