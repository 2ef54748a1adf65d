"""Detection and counterfactual scoring: a scripted OpenAI-protocol server for exact numbers, the
real local LLM end to end."""

import json

import pytest

from autointerp.errors import AutointerpError
from autointerp.llm import make_llm
from autointerp.scoring.llm_methods import (
    DetectionFailed, counterfactual_score, detection_score, parse_texts, parse_yes_no,
)

pytestmark = pytest.mark.integration



def test_parsers():
    assert parse_yes_no("Yes.") is True and parse_yes_no("no, it does not") is False
    assert parse_yes_no("I cannot tell") is None
    assert parse_texts('["a b", "c d"]') == ["a b", "c d"]
    assert parse_texts("1. The cat sat.\n- A dog ran.\nok") == ["The cat sat.", "A dog ran."]


def test_detection_balanced_accuracy(openai_server, real_settings, real_wb):
    llm = make_llm(f"openai-compatible:m@{openai_server.url}", real_settings)
    openai_server.replies = [(200, "yes")] * 3 + [(200, "no")] * 2 + [(200, "no")] * 5
    s = detection_score(real_wb, "L3.N74", "numbers", llm, n=5)
    assert s.method == "detection" and s.details["true_positive_rate"] == pytest.approx(0.6)
    assert s.details["true_negative_rate"] == 1.0 and s.value == pytest.approx(0.8)
    assert not set(s.split.score_top_windows) & set(s.split.explain_windows)
    openai_server.replies = [(200, "maybe")] * 3
    with pytest.raises(DetectionFailed):
        detection_score(real_wb, "L3.N74", "numbers", llm, n=1)


def test_counterfactual_runs_texts_on_the_real_model(openai_server, real_settings, real_wb):
    llm = make_llm(f"openai-compatible:m@{openai_server.url}", real_settings)
    pos = ["It was a long day.", "She bought a car.", "He is an engineer."]
    neg = ["Numbers: 12 34 56.", "Blue green red.", "Hello world again."]
    openai_server.replies = [(200, json.dumps(pos)), (200, json.dumps(neg))]
    s = counterfactual_score(real_wb, "L29.N720", "the article a or an", llm, n=3)
    d = s.details
    assert s.method == "counterfactual" and s.n_examples == 6 and 0 <= s.value <= 1
    assert d["mean_activation_gap"] > 0  # the "an" neuron does fire more on texts with articles
    openai_server.replies = [(200, "nothing useful"), (200, "[]")]
    with pytest.raises(AutointerpError, match="no usable texts"):
        counterfactual_score(real_wb, "L29.N720", "x", llm, n=3)


def test_counterfactual_with_the_local_llm(real_settings, real_wb):
    llm = make_llm("local", real_settings)
    s = counterfactual_score(real_wb, "L29.N720", "the words a and an", llm, n=3)
    print("local counterfactual:", s.details)
    assert s.llm == "local" and s.n_examples >= 2 and s.completion_tokens > 0
