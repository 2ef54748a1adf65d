"""The concept judge (real MiniLM) and the concepts file's validation."""

from __future__ import annotations

import json
import re

import pytest

from autointerp.evals.concepts import DEFAULT_CONCEPTS, Concept, ConceptsError, load_concepts
from autointerp.evals.judge import Judge


@pytest.fixture(scope="module")
def judge():
    return Judge(load_concepts())


def test_shipped_concepts_are_valid():
    concepts = [c for c in load_concepts(DEFAULT_CONCEPTS) if isinstance(c, Concept)]
    assert len(concepts) >= 10 and all(len(c.words) >= 20 for c in concepts)


@pytest.mark.parametrize("text", ["names of animals", 'the tokens "dog", "horse", "sheep", "lion", "wolf"',
                                  "animals such as cats and cows"])
def test_judge_says_yes_for_the_concept(judge, text):
    v = judge.judge(text, "animals")
    assert v.recovered, v


@pytest.mark.parametrize("text", ["colour words", "the tokens \"red\", \"blue\", \"green\"", "the article a",
                                  "punctuation and commas"])
def test_judge_says_no_for_a_distractor(judge, text):
    v = judge.judge(text, "animals")
    assert not v.recovered, v


def test_calibration_is_reported_and_separates(judge):
    c = judge.calibration
    print(c)
    assert c.matched_mean > c.threshold > c.mismatched_mean
    assert c.recall > 0.8 and c.false_positive_rate <= 0.05


@pytest.mark.parametrize("content, message", [
    ("{not json", "is not JSON"),
    ('{"name": "x"}', "must hold a JSON list"),
    ('[{"name": "a", "description": "d", "words": ["x","y","z","w","v"]}, {"name": "b", "description": "d"}]',
     "entry 2 ('b'): words: Field required"),
    (('[{"name": "a", "description": "d", "words": ["x","y","z","w","v"]}, '
      '{"name": "b", "description": "d", "words": ["x","q","r","s","t"]}]'), "'x' is in both 'a' and 'b'"),
])
def test_malformed_concepts_file_is_one_clear_error(tmp_path, content, message):
    path = tmp_path / "c.json"
    path.write_text(content)
    with pytest.raises(ConceptsError, match=re.escape(message)) as e:
        load_concepts(path)
    assert "\n" not in str(e.value)


def test_missing_concepts_file(tmp_path):
    with pytest.raises(ConceptsError, match="cannot read concepts file"):
        load_concepts(tmp_path / "nope.json")
    assert json.loads(DEFAULT_CONCEPTS.read_text())
