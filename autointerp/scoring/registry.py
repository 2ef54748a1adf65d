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
from autointerp.plugins import Registry
from autointerp.records import UnitId, Score, ScoreOptions
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

    def score(self, wb: Workbench, neuron: UnitId | str, explanation: str, options: ScoreOptions,
              llm: LLM | None) -> Score:
        ...


def _check_name(obj: Scorer) -> None:
    if not obj.name or not obj.name.strip():
        raise InputError("a scorer needs a name")


_REGISTRY: Registry[Scorer] = Registry(GROUP, Scorer, lambda s: s.name, "a scorer",
                                       "name, needs_llm, check and score", _check_name)
register_scorer = _REGISTRY.register
unregister_scorer = _REGISTRY.unregister
discover_scorers = _REGISTRY.discover


def get_scorer(name: str) -> Scorer:
    if (found := _REGISTRY.find(name)) is None:
        raise InputError(f"unknown scoring method {name!r}: choose from {', '.join(_REGISTRY.keys())}")
    return found


def scorers() -> list[str]:
    """The registered scorers' names, built-ins first."""
    return _REGISTRY.keys()


def run_scorer(scorer: Scorer, wb: Workbench, neuron: UnitId | str, explanation: str,
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
