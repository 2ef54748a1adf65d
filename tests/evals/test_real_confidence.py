"""The real eval's split of held-out scores by the records' confidence flag."""

from autointerp.evals.real import _by_confidence, _confidence_table
from autointerp.evals.records import ExplainerRun, RealResult, RealSummary, RunInfo
from autointerp.evals.stats import bootstrap_mean


def _run(n: int, score, confident) -> ExplainerRun:
    return ExplainerRun(neuron=f"L0.N{n}", method="agent", text=None if confident is None else "x", score=score,
                        confident=confident)


def test_confident_and_unconfident_means_use_only_their_own_defined_scores():
    runs = [_run(0, 0.4, True), _run(1, 0.2, True), _run(2, None, True), _run(3, -0.1, False), _run(4, 0.0, False),
            _run(5, 0.9, None)]  # no flag: a failed run or an old result, in neither group
    got = _by_confidence(runs, seed=0)
    assert (got["confident"].mean, got["confident"].n) == (0.3, 2)
    assert (got["unconfident"].mean, got["unconfident"].n) == (-0.05, 2)


def test_the_table_shows_both_groups_and_a_dash_for_an_empty_one():
    info = RunInfo(eval="real", command="c", model="m", llm="local", simulator="embedding", explainers=["agent"],
                   max_steps=4, seed=0)
    summary = RealSummary(method="agent", score=bootstrap_mean([0.1]), failures=0,
                          confident=bootstrap_mean([0.25, 0.35]), unconfident=bootstrap_mean([]))
    md = _confidence_table(RealResult(info=info, neurons=["L0.N0"], summary=[summary], paired={}, runs=[]))
    assert "| agent | +0.300 [+0.250, +0.350] | 2 | – | 0 |" in md
