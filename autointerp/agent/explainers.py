"""The explainers, by name: the built-ins (heuristic, one-shot, agent, cheapest first), any a caller
registers with `register_explainer`, and any an installed package declares under the entry point
group `autointerp.explainers`. Every caller asks the registry (`get_explainer(name).needs_llm`,
`.prompt_version`), never compares names; `autointerp.agent.explain.explain` runs any of them."""

from __future__ import annotations

import re

from autointerp.agent.agentic import AgentExplainer
from autointerp.agent.baselines import HeuristicExplainer, OneShotExplainer
from autointerp.agent.protocol import ExplainContext, ExplanationFailed, Explainer, Proposal
from autointerp.errors import InputError
from autointerp.plugins import load_entry_points

GROUP = "autointerp.explainers"

_EXPLAINERS: dict[str, Explainer] = {}
_discovered = False


def register_explainer(explainer: type | Explainer, replace: bool = False) -> type | Explainer:
    """Add an explainer (a class, made with no arguments, or an instance); usable as a class decorator.
    A name already taken by another class is an error unless `replace`."""
    obj = explainer() if isinstance(explainer, type) else explainer
    if not isinstance(obj, Explainer):
        raise TypeError(f"{explainer!r} is not an explainer: it needs name, needs_llm, prompt_version and "
                        "explain(ctx)")
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,39}", obj.name):  # it names transcript files and CLI choices
        raise InputError(f"bad explainer name {obj.name!r}: lowercase letters, digits, '-' and '_'")
    held = _EXPLAINERS.get(obj.name)
    if held is not None and type(held) is not type(obj) and not replace:
        raise InputError(f"an explainer named {obj.name!r} is already registered")
    _EXPLAINERS[obj.name] = obj
    return explainer


def unregister_explainer(name: str) -> None:
    """Forget an explainer (a test's, say); a name never registered is ignored."""
    _EXPLAINERS.pop(name, None)


def discover_explainers() -> None:
    """Register every explainer installed packages declare under `autointerp.explainers`."""
    global _discovered
    _discovered = True
    for found in load_entry_points(GROUP):
        register_explainer(found, replace=True)  # type: ignore[arg-type]


def explainers() -> list[Explainer]:
    """Every registered explainer, in registration order (the built-ins cheapest first)."""
    if not _discovered:
        discover_explainers()
    return list(_EXPLAINERS.values())


def explainer_names() -> list[str]:
    return [e.name for e in explainers()]


def get_explainer(name: str | Explainer) -> Explainer:
    """The explainer of that name (an explainer is returned as it is); InputError naming the known ones."""
    if not isinstance(name, str):
        return name
    if name not in _EXPLAINERS and not _discovered:
        discover_explainers()
    if name not in _EXPLAINERS:
        raise InputError(f"unknown explainer {name!r}: choose one of {', '.join(_EXPLAINERS)}")
    return _EXPLAINERS[name]


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


for _builtin in (HeuristicExplainer, OneShotExplainer, AgentExplainer):
    register_explainer(_builtin)

__all__ = ["ExplainContext", "ExplanationFailed", "Explainer", "Proposal", "discover_explainers",
           "explainer_names", "explainers", "get_explainer", "needs_llm", "parse_explainers", "register_explainer", "unregister_explainer"]
