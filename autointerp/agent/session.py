"""What one explanation run knows about its neuron: the held-out split, the validation windows its
`score` tool uses, the candidates scored so far, and the findings that become the evidence."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from autointerp.cache.view import LayerCache
from autointerp.config import Settings
from autointerp.errors import AutointerpError
from autointerp.llm import LLM, Usage
from autointerp.records import (
    ActivationRecord,
    Evidence,
    ExplanationKind,
    HeldOutSplit,
    NeuronId,
    Score,
    SimulatorName,
    TopToken,
)
from autointerp.scoring.simulation import score_records
from autointerp.scoring.split import held_out
from autointerp.targets import Target
from autointerp.tools.effects import EffectsResult
from autointerp.workbench import Workbench


MAX_EXPLANATION = 400


class ToolError(AutointerpError):
    """A tool call the model can recover from: the message goes back to it as an observation."""


@dataclass
class Candidate:
    text: str
    triggers: list[str]
    validation: float
    source: str  # heuristic, one-shot, score, submit


@dataclass
class Session:
    """One neuron under study. The explainer sees `explain` windows only; its `score` tool uses
    `validation` (other top windows and other random windows); the final score uses `test`, which
    no tool ever touches."""

    neuron: NeuronId
    wb: Workbench
    layer: LayerCache
    explain: list[ActivationRecord]
    validation: list[ActivationRecord]
    test: list[ActivationRecord]
    split: HeldOutSplit
    max_activation: float
    simulator: SimulatorName = "embedding"
    sim_llm: LLM | None = None
    candidates: list[Candidate] = field(default_factory=list)
    evidence: Evidence = field(default_factory=Evidence)
    submitted: Candidate | None = None
    effects: EffectsResult | None = None
    kind: ExplanationKind = "input"
    usage: Usage = field(default_factory=Usage)  # what this run's LLM calls spent, explainer and simulator

    @property
    def target(self) -> Target:
        return self.wb.target

    @property
    def settings(self) -> Settings:
        return self.wb.settings

    @property
    def best(self) -> Candidate | None:
        return max(self.candidates, key=lambda c: c.validation, default=None)

    def validate(self, text: str, triggers: list[str], source: str) -> Candidate:
        """Score on the validation windows and remember the candidate."""
        if not text.strip():
            raise ToolError("the explanation is empty")
        if len(text) > MAX_EXPLANATION:
            raise ToolError(f"the explanation has {len(text)} characters; keep it under {MAX_EXPLANATION}")
        value, _, _, spent = score_records(text, triggers, self.validation, self.max_activation, self.simulator,
                                           self.sim_llm)
        self.usage.add(spent)
        cand = Candidate(text.strip(), [t for t in triggers if t.strip()], round(value, 4), source)
        self.candidates.append(cand)
        return cand

    def test_score(self, text: str, triggers: list[str]) -> Score:
        """The held-out score recorded with the explanation."""
        value, per, n_tok, spent = score_records(text, triggers, self.test, self.max_activation, self.simulator,
                                                 self.sim_llm)
        self.usage.add(spent)
        llm = self.sim_llm
        return Score(neuron=str(self.neuron), model=self.target.name, explanation=text, method="simulation",
                     simulator=self.simulator, value=round(value, 5),
                     per_example=[None if c is None else round(c, 5) for c in per], n_tokens=n_tok,
                     n_examples=len(self.test), split=self.split, llm=llm.name if llm else None)

    def normalised(self, a: float) -> float:
        """Activation on the 0-10 scale the explainer sees (10 = the neuron's corpus max)."""
        return round(10 * max(a, 0.0) / self.max_activation, 1) if self.max_activation > 0 else 0.0

    def top_tokens(self, n: int = 10) -> list[TopToken]:
        counts: Counter[str] = Counter()
        best: dict[str, float] = {}
        for r in self.explain:
            counts[r.max_token] += 1
            best[r.max_token] = max(best.get(r.max_token, float("-inf")), r.max_activation)
        return [TopToken(token=t, count=c, max_activation=round(best[t], 5)) for t, c in counts.most_common(n)]


def open_session(wb: Workbench, neuron: NeuronId | str, simulator: SimulatorName = "embedding",
                 sim_llm: LLM | None = None, n_test: tuple[int, int] = (5, 5)) -> Session:
    """The neuron's session on the workbench's target and corpus (its layer cache built if missing)."""
    neuron = wb.neuron(neuron)
    settings = wb.settings
    layer = wb.layer(neuron.layer)
    explain, test, split = held_out(layer, neuron.index, *n_test, seed=settings.seed)
    # Validation: a seeded draw of the explainer's own top windows, and random windows not in the test set.
    rng = np.random.default_rng([settings.seed, neuron.layer, neuron.index, 1])
    n_val = min(5, len(explain) // 3)
    val_top = [explain[i] for i in sorted(rng.choice(len(explain), size=n_val, replace=False))] if n_val else []
    held = {r.window for r in test}
    spare = [r for r in layer.random(neuron.index) if r.window not in held]
    val_rand = [spare[i] for i in sorted(rng.choice(len(spare), size=min(5, len(spare)), replace=False))]
    session = Session(neuron, wb, layer, explain, val_top + val_rand, test, split,
                      layer.max_activation(neuron.index), simulator, sim_llm)
    if not session.validation:
        raise AutointerpError(f"{neuron} has no cached windows to validate against")
    session.evidence.top_tokens = session.top_tokens()
    return session
