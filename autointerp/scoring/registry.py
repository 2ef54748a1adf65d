"""The scorers: one class per method behind `Scorer`, registered here by name and found here by
whatever runs one (`autointerp score`), so a new method is one class plus one `register_scorer`.

A package of one's own adds a scorer without editing autointerp: register it with
`register_scorer`, or declare it under the entry point group `autointerp.scorers`
(`[project.entry-points."autointerp.scorers"] mine = "my_pkg.scoring:MyScorer"`); entry points are
loaded the first time a name is not yet known."""

from __future__ import annotations

from typing import ClassVar, Protocol, runtime_checkable

from autointerp.errors import InputError
from autointerp.llm import LLM
from autointerp.plugins import load_entry_points
from autointerp.records import NeuronId, Score, ScoreOptions
from autointerp.scoring.llm_methods import CounterfactualScorer, DetectionScorer, FuzzingScorer
from autointerp.scoring.simulation import SimulationScorer
from autointerp.workbench import Workbench

GROUP = "autointerp.scorers"


@runtime_checkable
class Scorer(Protocol):
    """How well an explanation predicts a neuron. `score` returns a Score whose `method` is the
    scorer's name and whose `details` are its typed figures (records.py; `Figures` for named numbers)."""

    name: ClassVar[str]

    def needs_llm(self, options: ScoreOptions) -> bool:
        """Whether scoring with these options asks an LLM (the caller makes one only then)."""
        ...

    def check(self, options: ScoreOptions) -> None:
        """Raise InputError for options that cannot work, before the model loads."""
        ...

    def score(self, wb: Workbench, neuron: NeuronId | str, explanation: str, options: ScoreOptions,
              llm: LLM | None) -> Score:
        ...


_SCORERS: dict[str, Scorer] = {}
_discovered = False


def register_scorer(scorer: type | Scorer, replace: bool = False) -> type | Scorer:
    """Add a scorer (a class, made with no arguments, or an instance); usable as a decorator.
    A name another scorer holds is an error unless `replace`."""
    obj = scorer() if isinstance(scorer, type) else scorer
    if not isinstance(obj, Scorer):
        raise TypeError(f"{scorer!r} is not a scorer: it needs name, needs_llm, check and score")
    if not obj.name or not obj.name.strip():
        raise InputError("a scorer needs a name")
    if obj.name in _SCORERS and not replace and type(_SCORERS[obj.name]) is not type(obj):
        raise InputError(f"a scorer named {obj.name!r} is already registered")
    _SCORERS[obj.name] = obj
    return scorer


def unregister_scorer(name: str) -> None:
    """Remove a scorer (a test's toy, say); a name not registered is an error."""
    if name not in _SCORERS:
        raise InputError(f"no scorer named {name!r} is registered")
    del _SCORERS[name]


def discover_scorers() -> list[Scorer]:
    """Register every scorer installed packages declare under `autointerp.scorers`."""
    global _discovered
    _discovered = True
    found = [o() if isinstance(o, type) else o for o in load_entry_points(GROUP)]
    for sc in found:
        register_scorer(sc, replace=True)
    return found


def get_scorer(name: str) -> Scorer:
    if name not in _SCORERS and not _discovered:
        discover_scorers()
    if name not in _SCORERS:
        raise InputError(f"unknown scoring method {name!r}: choose from {', '.join(_SCORERS)}")
    return _SCORERS[name]


def scorers() -> list[str]:
    """The registered scorers' names, built-ins first."""
    if not _discovered:
        discover_scorers()
    return list(_SCORERS)


def run_scorer(scorer: Scorer, wb: Workbench, neuron: NeuronId | str, explanation: str,
               options: ScoreOptions | None = None, llm: LLM | None = None) -> Score:
    """Run any scorer as `autointerp score` does: its options checked, an LLM given where it asks one."""
    options = options or ScoreOptions()
    if not explanation.strip():
        raise InputError("the explanation is empty")
    scorer.check(options)
    if llm is None and scorer.needs_llm(options):
        raise InputError(f"{scorer.name} scoring with these options needs an LLM (local, openai:..., "
                         "openai-compatible:...)")
    res = scorer.score(wb, neuron, explanation, options, llm)
    if res.method != scorer.name:
        raise TypeError(f"scorer {scorer.name!r} returned a score of method {res.method!r}")
    return res


for _builtin in (SimulationScorer, DetectionScorer, FuzzingScorer, CounterfactualScorer):
    register_scorer(_builtin)
