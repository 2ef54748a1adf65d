"""Detection and counterfactual scoring: a scripted OpenAI-protocol server for exact numbers, the
real local LLM end to end."""

import json

import pytest

from autointerp.errors import AutointerpError
from autointerp.llm import make_llm
from autointerp.records import DetectionDetails, FuzzingDetails
from autointerp.scoring.llm_methods import (
    DetectionFailed, counterfactual_score, detection_score, parse_texts, parse_yes_no,
)
from autointerp.scoring.registry import get_scorer
from autointerp.scoring.sample import SampleConfig

pytestmark = pytest.mark.integration



def test_parsers():
    assert parse_yes_no("Yes.") is True and parse_yes_no("no, it does not") is False
    assert parse_yes_no("I cannot tell") is None
    assert parse_texts('["a b", "c d"]') == ["a b", "c d"]
    assert parse_texts("1. The cat sat.\n- A dog ran.\nok") == ["The cat sat.", "A dog ran."]


def _expected(s, requests, replies):
    """The confusion worked out from which example each request showed and what was replied."""
    truth = []
    for req in requests:
        prompt = req["messages"][-1]["content"]
        (ex,) = [e for e in s.examples if e.text in prompt]
        truth.append(ex.activating)
    tp = sum(t and r for t, r in zip(truth, replies))
    tn = sum(not t and not r for t, r in zip(truth, replies))
    pos, neg = sum(truth), len(truth) - sum(truth)
    precision = tp / (tp + neg - tn) if tp + neg - tn else 0.0
    recall = tp / pos
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return (recall + tn / neg) / 2, f1


@pytest.mark.parametrize("method", ["detection", "fuzzing"])
def test_classifier_scores_on_delphi_samples(openai_server, real_settings, real_wb, method):
    llm = make_llm(f"openai-compatible:m@{openai_server.url}", real_settings)
    cfg = SampleConfig(n_positive=4, n_quantiles=2, n_negative=4)
    replies = [True, False, True, True, False, False, True, False]
    openai_server.replies = [(200, "Yes." if r else "no") for r in replies]
    s = get_scorer(method).classify(real_wb, "L3.N25", "numbers", llm, cfg)
    assert s.method == method and s.n_examples == 8 == len(openai_server.requests)
    value, f1 = _expected(s, openai_server.requests, replies)
    assert s.value == pytest.approx(value, abs=1e-5) and s.details.f1 == pytest.approx(f1, abs=1e-5)
    assert type(s.details) is {"detection": DetectionDetails, "fuzzing": FuzzingDetails}[method]
    assert s.details.positives == s.details.negatives == 4 and s.details.failed == 0
    assert [e.quantile for e in s.examples if e.activating] == [0, 0, 1, 1]
    assert not {e.window for e in s.examples} & set(s.split.explain_windows)
    if method == "fuzzing":  # every shown example carries delphi's markers
        assert all("<<" in e.text and ">>" in e.text for e in s.examples)
        assert all("<<" in r["messages"][-1]["content"] for r in openai_server.requests)
    openai_server.replies = [(200, "maybe")] * 24
    with pytest.raises(DetectionFailed):
        get_scorer(method).classify(real_wb, "L3.N25", "numbers", llm, cfg)


def test_detection_with_the_local_llm(real_settings, real_wb):
    llm = make_llm("local", real_settings)
    s = detection_score(real_wb, "L3.N25", "numbers", llm, SampleConfig(n_positive=2, n_quantiles=2, n_negative=2))
    print("local detection:", s.value, s.details, s.notes)
    assert s.llm == "local" and s.n_examples == 4 and s.completion_tokens > 0
    assert s.value is None or 0 <= s.value <= 1


def test_counterfactual_runs_texts_on_the_real_model(openai_server, real_settings, real_wb):
    llm = make_llm(f"openai-compatible:m@{openai_server.url}", real_settings)
    pos = ["It was a long day.", "She bought a car.", "He is an engineer."]
    neg = ["Numbers: 12 34 56.", "Blue green red.", "Hello world again."]
    openai_server.replies = [(200, json.dumps(pos)), (200, json.dumps(neg))]
    s = counterfactual_score(real_wb, "L29.N720", "the article a or an", llm, n=3)
    d = s.details
    assert s.method == "counterfactual" and s.n_examples == 6 and 0 <= s.value <= 1
    assert d.mean_activation_gap > 0  # the "an" neuron does fire more on texts with articles
    openai_server.replies = [(200, "nothing useful"), (200, "[]")]
    with pytest.raises(AutointerpError, match="no usable texts"):
        counterfactual_score(real_wb, "L29.N720", "x", llm, n=3)


def test_counterfactual_with_the_local_llm(real_settings, real_wb):
    llm = make_llm("local", real_settings)
    s = counterfactual_score(real_wb, "L29.N720", "the words a and an", llm, n=3)
    print("local counterfactual:", s.details)
    assert s.llm == "local" and s.n_examples >= 2 and s.completion_tokens > 0


def test_score_cli_fuzzing(openai_server, real_settings):
    import subprocess
    import sys

    from tests.conftest import env_for

    openai_server.replies = [(200, "yes")] * 8
    r = subprocess.run([sys.executable, "-m", "autointerp.cli", "score", "L3.N25", "numbers", "--method", "fuzzing",
                        "-n", "4", "--quantiles", "2", "--llm", f"openai-compatible:m@{openai_server.url}"],
                       env=env_for(real_settings, AUTOINTERP_TOKENS="4096"), capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    # all "yes": every positive found, no negative rejected
    text = " ".join(r.stdout.split())  # rich wraps long lines
    assert "score +0.5000 (fuzzing balanced accuracy, 4 positives + 4 negatives of 32 tokens" in text
    assert "F1 0.6667 precision 0.5000 recall 1.0000 true negative rate 0.0000" in text
