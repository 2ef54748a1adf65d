"""The cascade: the heuristic's answer where it validates at or above the threshold, the agent's
elsewhere, each exactly what that explainer gives alone; the record and the batch say which."""

from __future__ import annotations

from autointerp.agent import AgentConfig, explain
from autointerp.agent.cascade import CascadeExplainer
from autointerp.agent.explainers import get_explainer
from autointerp.agent.transcript import load
from autointerp.batch.executors import Outcome
from autointerp.batch.run import _Totals
from autointerp.llm import LLM, Capabilities
from tests.agent.scripted import ScriptedChatModel
from tests.agent.test_loop import NEURON, asks_category, findings, seeds  # noqa: F401 - fixtures

CONFIG = AgentConfig(max_steps=5, target_score=-1.0)  # the agent ends on its composed candidates


def scripted(*replies) -> LLM:
    """A chat model with these replies and no more: one asked beyond them fails the test's run."""
    return LLM("scripted", ScriptedChatModel(script=list(replies)), price=None, capabilities=Capabilities())


def test_the_cascade_keeps_the_heuristic_at_the_threshold_and_runs_the_agent_under_it(
        real_wb, asks_category):  # noqa: F811
    cheap = explain(real_wb, NEURON, method="heuristic")
    validation = next(e for e in load(cheap.transcript) if e.type == "final").validation

    kept = explain(real_wb, NEURON, llm=scripted(), method=CascadeExplainer(threshold=validation), config=CONFIG)
    assert kept.method == "cascade" and kept.stage == "heuristic"
    assert (kept.text, kept.score, kept.triggers) == (cheap.text, cheap.score, cheap.triggers)
    assert kept.prompt_tokens == 0 and kept.steps == 0 and kept.explainer == "none", "the LLM was never asked"

    agent = explain(real_wb, NEURON, llm=scripted(*seeds(asks_category)), config=CONFIG)
    ran = explain(real_wb, NEURON, llm=scripted(*seeds(asks_category)),
                  method=CascadeExplainer(threshold=validation + 1e-4), config=CONFIG)
    assert ran.stage == "agent" and agent.stage is None and ran.explainer == agent.explainer == "scripted"
    assert (ran.text, ran.score, ran.kind) == (agent.text, agent.score, agent.kind)
    assert ran.prompt_tokens == agent.prompt_tokens


def test_the_cascade_is_a_registered_explainer_whose_batch_key_follows_its_stages():
    cascade = get_explainer("cascade")
    assert isinstance(cascade, CascadeExplainer) and cascade.needs_llm
    assert cascade.prompt_version.split("+") == [*get_explainer("heuristic").prompt_version.split("+"),
                                                 *get_explainer("agent").prompt_version.split("+")], \
        "a new agent or heuristic prompt is a new batch key"


def test_a_batch_counts_the_units_and_seconds_of_each_stage():
    totals = _Totals()
    for o in (Outcome("L6.N1", True, stage="heuristic", seconds=1.5),
              Outcome("L6.N2", True, stage="agent", seconds=20.0),
              Outcome("L6.N3", True, stage="heuristic", seconds=2.0),
              Outcome("L6.N4", False, stage=None, seconds=3.0), Outcome("L6.N5", True)):
        totals.add(o)
    assert totals.stages == {"heuristic": 2, "agent": 1} and totals.stage_seconds == {"heuristic": 3.5, "agent": 20.0}
    assert (totals.done, totals.failed) == (4, 1)
