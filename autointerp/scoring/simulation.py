"""Simulation scoring: correlate the activations an explanation predicts with the real ones.

Default rule "raw", OpenAI's automated-interpretability convention
(neuron-explainer/neuron_explainer/explanations/scoring.py: `score_from_simulation` with
`correlation_score`, pooled by `aggregate_scored_sequence_simulations`): the Pearson correlation of
the simulator's predictions with the raw, unnormalised activations, negatives included, pooled over
every scored token (per-window correlations alongside). Their 0-10 discretisation only formats
prompts. Rule "discretised" is this project's earlier one, Pearson against
min(10, floor(10 * relu(x) / max)); stored records without a rule were scored with it, and its
numbers are not comparable with published ones (on L29.N720, 42 % of whose tokens are negative, it
read 0.329 where the raw rule reads 0.243).

A correlation with a constant side is undefined: None, never 0 (OpenAI's `np.corrcoef` gives nan).
BOS positions are never scored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar, NamedTuple

import numpy as np

from autointerp.errors import InputError
from autointerp.llm.backends import LLM, Usage
from autointerp.records import (
    ActivationRecord,
    Score,
    ScoredWindow,
    ScoreOptions,
    ScoreRule,
    SimulatorName,
    SplitKind,
    UnitId,
)
from autointerp.scoring.simulators import get_simulator, needs_llm
from autointerp.scoring.split import held_out
from autointerp.workbench import Workbench

DEFAULT_RULE: ScoreRule = "raw"


def discretise(acts: list[float], max_activation: float) -> list[int]:
    """min(10, floor(10 * relu(x) / max)): the 0-10 scale OpenAI's prompts show (the old score rule)."""
    if max_activation <= 0:
        return [0 for _ in acts]
    return [min(10, math.floor(10 * max(0.0, a) / max_activation)) for a in acts]


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson's r; None when it is undefined (fewer than 2 values, or either side constant)."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(a) != len(b):
        raise ValueError(f"pearson of {len(a)} and {len(b)} values")
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def true_values(acts: list[float], max_activation: float, rule: ScoreRule) -> list[float]:
    """What the predictions are correlated with under `rule`."""
    if rule == "raw":
        return [float(a) for a in acts]
    if rule == "discretised":
        return [float(v) for v in discretise(acts, max_activation)]
    raise InputError(f"unknown score rule {rule!r}: choose raw or discretised")


class Simulated(NamedTuple):
    """A score on some windows: pooled value (None when undefined), per-window correlations, tokens
    scored, what the simulator's LLM calls spent (zero offline), and every window as correlated."""

    value: float | None
    per_window: list[float | None]
    n_tokens: int
    usage: Usage
    windows: list[ScoredWindow]


def score_records(explanation: str, triggers: list[str], records: list[ActivationRecord], max_activation: float,
                  simulator: SimulatorName, llm=None, rule: ScoreRule = DEFAULT_RULE) -> Simulated:
    """Simulate every record and correlate, pooled over all their scored tokens and per record.
    Predictions are rounded to 4 decimals first, so `windows` reproduces the value exactly."""
    sim = get_simulator(simulator, llm)
    preds = sim.predict(explanation, triggers, records)
    windows = []
    for rec, p in zip(records, preds):
        if len(p) != len(rec.tokens):
            raise InputError(f"simulator {simulator} returned {len(p)} predictions for {len(rec.tokens)} tokens")
        s = int(rec.has_bos)
        true = true_values(rec.activations[s:], max_activation, rule)
        pred = [round(float(v), 4) for v in p[s:]]
        windows.append(ScoredWindow(window=rec.window, tokens=rec.tokens[s:], true=true, predicted=pred,
                                    correlation=pearson(true, pred)))
    value = pearson([v for w in windows for v in w.predicted], [v for w in windows for v in w.true])
    return Simulated(value, [w.correlation for w in windows], sum(len(w.true) for w in windows),
                     getattr(sim, "usage", None) or Usage(), windows)


def rounded(x: float | None, digits: int = 5) -> float | None:
    return None if x is None else round(x, digits)


def is_defined(score: float | None) -> bool:
    """An undefined correlation (None, or NaN read back) is never averaged; callers count it apart."""
    return score is not None and math.isfinite(score)


def defined(scores: Sequence[float | None]) -> list[float]:
    """The defined scores, in order."""
    return [s for s in scores if is_defined(s)]


def simulation_score(wb: Workbench, neuron: UnitId | str, explanation: str, simulator: SimulatorName = "embedding",
                     triggers: Sequence[str] = (), top: int = 5, random: int = 5,
                     split: SplitKind = "top-and-random", llm=None, rule: ScoreRule = DEFAULT_RULE,
                     keep_windows: bool = True) -> Score:
    """Score an explanation on the neuron's held-out windows (never ones an explainer is shown):
    `top` windows drawn from its top examples (none when `split` is "random-only") and `random`
    random windows. `keep_windows` returns every window as correlated (not needed to store a score)."""
    if not explanation.strip():
        raise InputError("the explanation is empty")
    if top < 0 or random < 0 or top + random == 0:
        raise InputError("top and random must be >= 0 and not both 0")
    neuron = wb.unit(neuron)
    layer = wb.cache(neuron)
    _, records, held = held_out(layer, neuron.index, top, random, split, wb.settings.seed)
    max_act = layer.max_activation(neuron.index)
    sim = score_records(explanation, list(triggers or ()), records, max_act, simulator, llm, rule)
    notes = [] if sim.value is not None else [
        "undefined: the predictions or the activations are constant over the scored tokens"]
    return Score(neuron=str(neuron), model=wb.target.name, explanation=explanation, method="simulation",
                 simulator=simulator, rule=rule, value=rounded(sim.value),
                 per_example=[rounded(c) for c in sim.per_window], n_tokens=sim.n_tokens, n_examples=len(records),
                 split=held, llm=llm.name if llm else None, prompt_tokens=sim.usage.prompt_tokens,
                 completion_tokens=sim.usage.completion_tokens, notes=notes,
                 windows=sim.windows if keep_windows else None)


class SimulationScorer:
    """OpenAI's simulation: a simulator predicts every token from the explanation; the score is the
    correlation with the real activations on held-out windows."""

    name: ClassVar[str] = "simulation"

    def needs_llm(self, options: ScoreOptions) -> bool:
        return needs_llm(options.simulator)

    def check(self, options: ScoreOptions) -> None:
        """The windows are checked by `simulation_score`, before anything runs."""

    def score(self, wb: Workbench, neuron: UnitId | str, explanation: str, options: ScoreOptions,
              llm: LLM | None) -> Score:
        return simulation_score(wb, neuron, explanation, options.simulator, options.triggers, options.top,
                                options.random, options.split, llm=llm, rule=options.rule)
