"""The explainers, by name: the built-ins (heuristic, one-shot, agent, cheapest first, then the
cascade of heuristic and agent), any a caller registers with `register_explainer`, and any an
installed package declares under the entry point group `autointerp.explainers`. Every caller asks
the registry (`get_explainer(name).needs_llm`, `.prompt_version`), never compares names;
`autointerp.agent.explain.explain` runs any of them."""

from __future__ import annotations

import re

from autointerp.agent.agentic import AgentExplainer
from autointerp.agent.baselines import HeuristicExplainer, OneShotExplainer
from autointerp.agent.cascade import CascadeExplainer
from autointerp.agent.protocol import ExplainContext, ExplanationFailed, Explainer, Proposal
from autointerp.errors import InputError
from autointerp.plugins import Registry

GROUP = "autointerp.explainers"

def _check_name(obj: Explainer) -> None:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,39}", obj.name):  # it names transcript files and CLI choices
        raise InputError(f"bad explainer name {obj.name!r}: lowercase letters, digits, '-' and '_'")


_REGISTRY: Registry[Explainer] = Registry(GROUP, Explainer, lambda e: e.name, "an explainer",
                                          "name, needs_llm, prompt_version and explain(ctx)", _check_name)
register_explainer = _REGISTRY.register
unregister_explainer = _REGISTRY.unregister
discover_explainers = _REGISTRY.discover


def explainers() -> list[Explainer]:
    """Every registered explainer, in registration order (the built-ins cheapest first)."""
    return _REGISTRY.all()


def explainer_names() -> list[str]:
    return [e.name for e in explainers()]


def get_explainer(name: str | Explainer) -> Explainer:
    """The explainer of that name (an explainer is returned as it is); InputError naming the known ones."""
    if not isinstance(name, str):
        return name
    if (found := _REGISTRY.find(name)) is None:
        raise InputError(f"unknown explainer {name!r}: choose one of {', '.join(_REGISTRY.keys())}")
    return found


def parse_explainers(spec: str) -> list[str]:
    """`agent,one-shot,heuristic` (any order, any subset): the names, in registration order
    (evals run them cheapest first)."""
    names = {s.strip() for s in spec.split(",") if s.strip()}
    known = explainer_names()
    bad = sorted(names - set(known))
    if bad or not names:
        raise InputError(f"the explainers must be a comma-separated subset of {', '.join(known)}; got {spec!r}")
    return [n for n in known if n in names]


def needs_llm(names: list[str] | tuple[str, ...]) -> bool:
    """Whether any of the named explainers needs an LLM."""
    return any(get_explainer(n).needs_llm for n in names)


for _builtin in (HeuristicExplainer, OneShotExplainer, AgentExplainer, CascadeExplainer):
    register_explainer(_builtin)

__all__ = ["ExplainContext", "ExplanationFailed", "Explainer", "Proposal", "discover_explainers",
           "explainer_names", "explainers", "get_explainer", "needs_llm", "parse_explainers", "register_explainer", "unregister_explainer"]
