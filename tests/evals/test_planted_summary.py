"""The planted eval's summary: unplantable concepts are left out and named; mixed files are split by kind."""

from __future__ import annotations

from autointerp.evals.judge import Calibration, Verdict
from autointerp.evals.planted import _kinds, _summary, render
from autointerp.evals.records import ConceptOutcome, PlantedResult, PlantedRun, RunInfo


def _outcome(name: str, kind: str, recovered: bool | None, auroc: float | None = None) -> ConceptOutcome:
    runs = [] if recovered is None else [PlantedRun(neuron="L3.N1", method="heuristic", text="x", score=0.5,
                                                    verdict=Verdict(similarity=0.5, best_other="b",
                                                                    best_other_similarity=0.1, recovered=recovered))]
    return ConceptOutcome(concept=name, description="d", neuron="L3.N1", kind=kind, concept_activation=8.0,
                          distractor_activation=0.1, top_share=0.5, auroc=auroc,
                          plantable=auroc is None or auroc >= 0.8, runs=runs)


def test_summary_counts_plantable_concepts_by_kind():
    outcomes = [_outcome("animals", "words", True), _outcome("colours", "words", True),
                _outcome("party (politics)", "context", False, 0.97), _outcome("left (direction)", "context", True, 1.0),
                _outcome("will (noun)", "context", None, 0.55)]
    assert _kinds(outcomes) == ["all", "words", "context"] and _kinds(outcomes[:2]) == ["all"]
    rows = {k: _summary("heuristic", outcomes, k) for k in _kinds(outcomes)}
    assert (rows["all"].recovered, rows["all"].concepts) == (3, 4)
    assert (rows["words"].recovered, rows["words"].concepts) == (2, 2)
    assert (rows["context"].recovered, rows["context"].concepts, rows["context"].rate) == (1, 2, 0.5)
    cal = Calibration(threshold=0.3, quantile=0.95, n_mismatched=10, n_matched=5, mismatched_mean=0.1,
                      matched_mean=0.5, recall=0.9, false_positive_rate=0.01)
    info = RunInfo(eval="planted", command="c", model="m", llm=None, simulator="embedding",
                   explainers=["heuristic"], max_steps=1, seed=0)
    md = render(PlantedResult(info=info, planted_model="m", layer=3, calibration=cal,
                              summary=list(rows.values()), concepts=outcomes))
    assert "Cannot be planted at layer 3" in md and "will (noun) (0.55)" in md
    assert "| heuristic | contextual | 1/2 | 50% |" in md and "| 0.970 |" in md
