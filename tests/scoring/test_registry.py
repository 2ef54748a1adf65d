"""Scorers are found in the registry: the built-ins, and a user's toy scorer registered through the
public API and run by `run_scorer`, the function `autointerp score` runs every scorer with."""

from __future__ import annotations

from typing import ClassVar

import pytest

from autointerp.errors import InputError
from autointerp.llm import LLM
from autointerp.present.scores import figures_text, headline
from autointerp.records import Figures, Score, ScoreOptions, UnitId
from autointerp.scoring.registry import get_scorer, register_scorer, run_scorer, scorers, unregister_scorer
from autointerp.scoring.split import held_out
from autointerp.workbench import Workbench


class PeakWordScorer:
    """The share of the held-out top windows whose peak token the explanation names."""

    name: ClassVar[str] = "test-peak-word"

    def needs_llm(self, options: ScoreOptions) -> bool:
        return False

    def check(self, options: ScoreOptions) -> None:
        if options.top < 1:
            raise InputError("peak-word scoring needs --top >= 1")

    def score(self, wb: Workbench, neuron: UnitId | str, explanation: str, options: ScoreOptions,
              llm: LLM | None) -> Score:
        nid = wb.unit(neuron)
        _, records, split = held_out(wb.cache(nid), nid.index, options.top, 0, "top-and-random",
                                     wb.settings.seed)
        words = set(explanation.lower().split())
        hits = sum(r.max_token.strip().lower() in words for r in records)
        return Score(neuron=str(nid), model=wb.target.name, explanation=explanation, method=self.name,
                     simulator=None, value=hits / len(records), per_example=[], n_tokens=0,
                     n_examples=len(records), split=split, details=Figures({"hits": hits}))


@pytest.fixture()
def peak_word():
    register_scorer(PeakWordScorer)
    yield get_scorer(PeakWordScorer.name)
    unregister_scorer(PeakWordScorer.name)


def test_the_built_ins_are_registered():
    assert scorers()[:4] == ["simulation", "detection", "fuzzing", "counterfactual"]
    opts = ScoreOptions(simulator="llm")
    assert get_scorer("simulation").needs_llm(opts) and not get_scorer("simulation").needs_llm(ScoreOptions())
    assert all(get_scorer(m).needs_llm(ScoreOptions()) for m in ("detection", "fuzzing", "counterfactual"))
    with pytest.raises(InputError, match="cannot cover 10 quantiles"):
        get_scorer("fuzzing").check(ScoreOptions(n=5))
    with pytest.raises(InputError, match="unknown scoring method 'vibes': choose from simulation, detection"):
        get_scorer("vibes")
    with pytest.raises(InputError, match="already registered"):
        register_scorer(type("Impostor", (PeakWordScorer,), {"name": "simulation"}))
    with pytest.raises(TypeError, match="is not a scorer"):
        register_scorer(object())
    assert type(get_scorer("simulation")).__name__ == "SimulationScorer"


def test_a_registered_toy_scorer_runs_as_score_runs_it(peak_word, real_wb):
    toy = peak_word
    assert isinstance(toy, PeakWordScorer) and toy.name in scorers()
    layer = real_wb.layer(29)
    _, records, _ = held_out(layer, 720, 5, 0, "top-and-random", real_wb.settings.seed)
    named = " ".join(r.max_token.strip() for r in records[:2])  # names the peaks of two of them (at least)
    s = run_scorer(get_scorer(toy.name), real_wb, "L29.N720", named, ScoreOptions(top=5))
    hits = sum(r.max_token.strip().lower() in named.lower().split() for r in records)
    assert s.method == toy.name and s.n_examples == len(records) and s.value == hits / len(records) >= 2 / 5
    again = Score.model_validate_json(s.model_dump_json())  # stored and loaded: its figures come back
    assert again == s and again.details.root == {"hits": hits}
    assert headline(s).endswith(f"({toy.name}, {len(records)} examples)") and figures_text(s) == f"hits {hits:.4f}"
    with pytest.raises(InputError, match="needs --top"):
        run_scorer(toy, real_wb, "L29.N720", named, ScoreOptions(top=0))
    with pytest.raises(InputError, match="needs an LLM"):
        run_scorer(get_scorer("detection"), real_wb, "L29.N720", named, ScoreOptions())


def test_an_unregistered_scorer_is_gone(peak_word):
    unregister_scorer(peak_word.name)
    with pytest.raises(InputError, match="unknown scoring method 'test-peak-word'"):
        get_scorer(peak_word.name)
    register_scorer(peak_word)  # for the fixture to remove
