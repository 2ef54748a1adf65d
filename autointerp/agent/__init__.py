"""The explain agent and the other explainers: a registry of explainers (`register_explainer`) and
one runner (`explain`) for any of them."""

from autointerp.agent.explain import ExplanationFailed, explain
from autointerp.agent.explainers import explainers, get_explainer, register_explainer, unregister_explainer
from autointerp.agent.loop import AgentConfig
from autointerp.agent.protocol import ExplainContext, Explainer, Proposal

__all__ = ["AgentConfig", "ExplainContext", "ExplanationFailed", "Explainer", "Proposal", "explain", "explainers",
           "get_explainer", "register_explainer", "unregister_explainer"]
