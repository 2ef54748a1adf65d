"""The explain agent: a tool-using loop that hypothesises, tests and refines a neuron explanation."""

from autointerp.agent.explain import ExplanationFailed, explain
from autointerp.agent.loop import AgentConfig

__all__ = ["AgentConfig", "ExplanationFailed", "explain"]
