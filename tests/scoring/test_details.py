"""Typed score details: each built-in method's own model, records stored when details were a plain
dict still load (and dump as stored), and the one score formatter reads them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from autointerp.evals.records import OutputResult, PlantedResult, RealResult
from autointerp.present.scores import describe, figures_text, headline, per_example_text, value_text
from autointerp.records import (
    CounterfactualDetails,
    DetectionDetails,
    Explanation,
    Figures,
    FuzzingDetails,
    Score,
    SimulationDetails,
)

SPLIT = {"kind": "top-and-random", "seed": 0, "explain_windows": [1, 2], "score_top_windows": [3],
         "score_random_windows": [4]}
# A detection score as stored before details were typed: every figure a float.
DELPHI = {"f1": 0.66667, "precision": 0.5, "recall": 1.0, "true_positive_rate": 1.0, "true_negative_rate": 0.0,
          "balanced_accuracy": 0.5, "true_positives": 4.0, "true_negatives": 0.0, "false_positives": 4.0,
          "false_negatives": 0.0, "positives": 4.0, "negatives": 4.0, "failed": 0.0, "fire_threshold": 0.1,
          "threshold": 0.21, "example_len": 32.0, "quantiles": 2.0, "activating_pool": 37.0, "negative_pool": 61.0}


def stored(method: str, details: dict, **kw) -> dict:
    """A Score's JSON as the code before typed details wrote it."""
    return {"neuron": "L3.N25", "model": "smollm2-135m", "explanation": "numbers", "method": method,
            "simulator": None, "value": 0.5, "per_example": [], "n_tokens": 0, "n_examples": 8, "split": SPLIT,
            "llm": "local", "prompt_tokens": 10, "completion_tokens": 2, "details": details, "notes": [],
            "windows": None, "examples": None, **kw}


def test_each_method_reads_its_own_model():
    assert isinstance(Score.model_validate(stored("simulation", {}, rule="raw")).details, SimulationDetails)
    d = Score.model_validate(stored("detection", DELPHI)).details
    assert type(d) is DetectionDetails and d.positives == 4 and isinstance(d.positives, int) and d.f1 == 0.66667
    f = Score.model_validate(stored("fuzzing", {**DELPHI, "n_incorrect": 3.0})).details
    assert type(f) is FuzzingDetails and f.n_incorrect == 3
    c = Score.model_validate(stored("counterfactual", {"precision": 1.0, "recall": 0.5, "f1": 0.66667,
                                                       "mean_activation_gap": 1.2, "threshold": 0.9})).details
    assert type(c) is CounterfactualDetails and c.mean_activation_gap == 1.2
    with pytest.raises(ValidationError):
        FuzzingDetails.model_validate(DELPHI)  # fuzzing's details say how many tokens it highlighted


@pytest.mark.parametrize("method,details", [
    ("detection", {"true_positive_rate": 0.75, "true_negative_rate": 1.0}),  # before delphi's metrics
    ("simulation", {"top_mean": 0.5}),
    ("my-scorer", {"agreement": 0.8}),  # a user's scorer: named numbers
])
def test_other_shapes_load_as_figures_and_dump_as_stored(method, details):
    s = Score.model_validate(stored(method, details, rule="raw"))
    assert isinstance(s.details, Figures) and s.details.root == details
    assert json.loads(s.model_dump_json())["details"] == details


def test_an_old_stored_explanation_dumps_byte_for_byte():
    """Old simulation records (no rule, details {}) load, and dump as stored apart from the rule the
    loader adds, so the store's content hashes of every other field stay put."""
    score = stored("simulation", {}, simulator="embedding", llm=None, per_example=[0.5, None])
    rec = {"neuron": "L6.N74", "model": "smollm2-135m", "text": "legal language", "kind": "input", "triggers": [],
           "evidence": {"top_tokens": [], "substitutions": [], "context": [], "probes": [], "promoted_tokens": [],
                        "suppressed_tokens": []},
           "scores": [score], "method": "agent", "explainer": "local", "prompt_version": "agent_v1", "steps": 3,
           "confident": False, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0,
           "created_at": "2026-01-01T00:00:00Z", "transcript": None}
    e = Explanation.model_validate_json(json.dumps(rec))
    assert e.scores[0].rule == "discretised" and isinstance(e.scores[0].details, SimulationDetails)
    out = json.loads(e.model_dump_json())
    assert out["scores"][0].pop("rule") == "discretised" and out["scores"][0] == score


def test_bad_details_are_still_refused():
    with pytest.raises(ValidationError):
        Score.model_validate(stored("detection", {"f1": "high"}))
    with pytest.raises(ValidationError):
        Score.model_validate(stored("", {}))


def test_the_formatter_reads_the_typed_details():
    det = Score.model_validate(stored("detection", DELPHI))
    assert headline(det) == "+0.5000 (detection balanced accuracy, 4 positives + 4 negatives of 32 tokens)"
    assert figures_text(det) == ("F1 0.6667  precision 0.5000  recall 1.0000  true negative rate 0.0000  "
                                 "failed 0")
    sim = Score.model_validate(stored("simulation", {}, rule="raw", simulator="lexical", n_tokens=630,
                                      per_example=[0.25, None], value=None))
    assert describe(sim) == ("simulation, rule raw, simulator lexical, 8 held-out windows, 630 tokens, "
                             "split top-and-random")
    assert value_text(sim.value) == "undefined" and figures_text(sim) == "" and per_example_text(sim) == "+0.25, —"
    cf = Score.model_validate(stored("counterfactual", {"precision": 1.0, "recall": 0.5, "f1": 0.66667,
                                                        "mean_activation_gap": 1.2, "threshold": 0.9}))
    assert describe(cf) == "counterfactual F1, 8 generated texts"
    assert figures_text(cf) == ("precision 1.0000  recall 0.5000  f1 0.6667  mean_activation_gap 1.2000  "
                                "threshold 0.9000")
    mine = Score.model_validate(stored("my-scorer", {"agreement": 0.8}))
    assert headline(mine) == "+0.5000 (my-scorer, 8 examples)" and figures_text(mine) == "agreement 0.8000"
    assert value_text(float("nan")) == "undefined" and headline(None) == "unscored"


@pytest.mark.parametrize("name,model", [("real", RealResult), ("planted", PlantedResult), ("output", OutputResult)])
def test_the_committed_eval_results_still_validate(name, model):
    path = Path(__file__).parents[2] / "evals" / "results" / f"{name}.json"
    raw = json.loads(path.read_text())
    # exclude_unset: a field added since, with its default, is not in an older record; every field
    # the record has must come back unchanged.
    assert json.loads(model.model_validate(raw).model_dump_json(exclude_unset=True)) == raw
