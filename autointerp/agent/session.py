"""What one explanation run knows about its neuron: three disjoint window sets (what the explainer
reads, what chooses among candidates, and the held-out test windows of the reported score), the
candidates scored so far, and the typed findings that become the evidence."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from autointerp.agent.compose import rejection
from autointerp.agent.findings import Findings
from autointerp.cache.view import LayerCache
from autointerp.config import Settings
from autointerp.errors import AutointerpError
from autointerp.llm import LLM, Usage
from autointerp.records import (
    ActivationRecord,
    Evidence,
    ExplanationKind,
    HeldOutSplit,
    Score,
    SimulatorName,
    TopToken,
    UnitId,
)
from autointerp.scoring.simulation import DEFAULT_RULE, rounded, score_records
from autointerp.scoring.split import held_out
from autointerp.targets import Target
from autointerp.tools.effects import EffectsResult
from autointerp.workbench import Workbench

MAX_EXPLANATION = 400
# Validation: this many of the neuron's top windows, taken out of the explainer's share, and as many
# random windows outside the test set. A candidate read off the windows it is scored on overfits (on
# L6.N74 a "peak words" candidate scored +0.367 on validation drawn from the explainer's own windows
# and -0.052 held out).
N_VALIDATION = 6


class ToolError(AutointerpError):
    """A tool call the model can recover from: the message goes back to it as an observation."""


@dataclass
class Candidate:
    text: str
    triggers: list[str]
    validation: float
    source: str  # a composition rule (words, exact, category, context), heuristic, one-shot, score, submit


@dataclass
class Session:
    """One neuron under study. The explainer and its tools see `explain` windows only; candidates are
    scored and chosen on `validation` (top windows taken out of the explainer's share, and random
    windows), the `counterexamples` the context edits made and the `contrasts` (a peak word where
    the neuron is silent); the final score uses `test`, which nothing before it touches."""

    neuron: UnitId
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
    findings: Findings = field(default_factory=Findings)
    detail: object = None  # the last tool's full result, for the transcript (the LLM gets a compact one)
    # Explainer windows with a driving context word deleted (the up-front context edits): a candidate
    # that predicts the peak word fires without its context is wrong there, and validation sees it.
    counterexamples: list[ActivationRecord] = field(default_factory=list)
    # Windows cut at a peak word where the neuron stays silent (tools.record_silent): validation too.
    contrasts: list[ActivationRecord] = field(default_factory=list)

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
        records = self.validation + self.counterexamples + self.contrasts
        sim = score_records(text, triggers, records, self.max_activation, self.simulator, self.sim_llm)
        self.usage.add(sim.usage)
        # An undefined correlation (constant predictions) ranks as 0: it predicts nothing.
        cand = Candidate(text.strip(), [t for t in triggers if t.strip()], round(sim.value or 0.0, 4), source)
        self.candidates.append(cand)
        return cand

    def propose(self, text: str, triggers: list[str], source: str, names: frozenset[str] = frozenset()) -> Candidate:
        """An LLM-written candidate: refused (ToolError) when it copies a prompt placeholder or names
        nothing from the evidence (`names`: category names the evidence supports), else validated."""
        if why := rejection(text, self.findings, names):
            raise ToolError(f"explanation refused: {why}")
        return self.validate(text, triggers, source)

    def test_score(self, text: str, triggers: list[str]) -> Score:
        """The held-out score recorded with the explanation."""
        sim = score_records(text, triggers, self.test, self.max_activation, self.simulator, self.sim_llm)
        self.usage.add(sim.usage)
        llm = self.sim_llm
        return Score(neuron=str(self.neuron), model=self.target.name, explanation=text, method="simulation",
                     simulator=self.simulator, rule=DEFAULT_RULE, value=rounded(sim.value),
                     per_example=[rounded(c) for c in sim.per_window], n_tokens=sim.n_tokens,
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


def open_session(wb: Workbench, neuron: UnitId | str, simulator: SimulatorName = "embedding",
                 sim_llm: LLM | None = None, n_test: tuple[int, int] = (5, 5)) -> Session:
    """The neuron's session on the workbench's target and corpus (its layer cache built if missing)."""
    neuron = wb.unit(neuron)
    settings = wb.settings
    layer = wb.cache(neuron)
    shown, test, split = held_out(layer, neuron.index, *n_test, seed=settings.seed)
    # Validation: a seeded draw of top windows taken out of the explainer's share (so never shown to
    # it), and random windows not in the test set. The test set is exactly held_out's.
    rng = np.random.default_rng([settings.seed, neuron.layer, neuron.index, 1])
    n_val = min(N_VALIDATION, len(shown) // 3)
    picked = set(rng.choice(len(shown), size=n_val, replace=False).tolist()) if n_val else set()
    val_top = [r for i, r in enumerate(shown) if i in picked]
    explain = [r for i, r in enumerate(shown) if i not in picked]
    held = {r.window for r in test} | {r.window for r in shown}  # no window the explainer reads either
    spare = [r for r in layer.random(neuron.index) if r.window not in held]
    val_rand = [spare[i] for i in sorted(rng.choice(len(spare), size=min(N_VALIDATION, len(spare)), replace=False))]
    split = split.model_copy(update={"explain_windows": [r.window for r in explain]})
    session = Session(neuron, wb, layer, explain, val_top + val_rand, test, split,
                      layer.max_activation(neuron.index), simulator, sim_llm)
    if not session.validation:
        raise AutointerpError(f"{neuron} has no cached windows to validate against")
    session.evidence.top_tokens = session.top_tokens()
    return session
