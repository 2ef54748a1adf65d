"""Simulation scoring (OpenAI's protocol): correlate simulated with real, discretised activations."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from autointerp.errors import InputError
from autointerp.llm.backends import Usage
from autointerp.records import (
    ActivationRecord,
    NeuronId,
    Score,
    SimulatorName,
    SplitKind,
)
from autointerp.scoring.simulators import get_simulator
from autointerp.scoring.split import held_out
from autointerp.workbench import Workbench


def discretise(acts: list[float], max_activation: float) -> list[int]:
    """min(10, floor(10 * relu(x) / max)), as OpenAI's automated-interpretability."""
    if max_activation <= 0:
        return [0 for _ in acts]
    return [min(10, math.floor(10 * max(0.0, a) / max_activation)) for a in acts]


def pearson(x: list[float], y: list[float]) -> float | None:
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


class Simulated(NamedTuple):
    """A score on some windows: pooled value, per-window correlations, tokens scored, and what the
    simulator's LLM calls spent (zero for the offline simulators)."""

    value: float
    per_window: list[float | None]
    n_tokens: int
    usage: Usage


def score_records(explanation: str, triggers: list[str], records: list[ActivationRecord], max_activation: float,
                  simulator: SimulatorName, llm=None) -> Simulated:
    sim = get_simulator(simulator, llm)
    preds = sim.predict(explanation, triggers, records)
    real_all, pred_all, per = [], [], []
    for rec, p in zip(records, preds):
        if len(p) != len(rec.tokens):
            raise InputError(f"simulator {simulator} returned {len(p)} predictions for {len(rec.tokens)} tokens")
        s = int(rec.has_bos)
        real = discretise(rec.activations[s:], max_activation)
        per.append(pearson(p[s:], real))
        real_all += real
        pred_all += p[s:]
    value = pearson(pred_all, real_all)
    return Simulated(0.0 if value is None else value, per, len(real_all), getattr(sim, "usage", None) or Usage())


def simulation_score(wb: Workbench, neuron: NeuronId | str, explanation: str, simulator: SimulatorName = "embedding",
                     triggers: Sequence[str] = (), top: int = 5, random: int = 5,
                     split: SplitKind = "top-and-random", llm=None) -> Score:
    """Score an explanation on the neuron's held-out windows (never ones an explainer is shown):
    `top` windows drawn from its top examples (none when `split` is "random-only") and `random`
    random windows."""
    if not explanation.strip():
        raise InputError("the explanation is empty")
    if top < 0 or random < 0 or top + random == 0:
        raise InputError("top and random must be >= 0 and not both 0")
    neuron = wb.neuron(neuron)
    layer = wb.layer(neuron.layer)
    _, records, held = held_out(layer, neuron.index, top, random, split, wb.settings.seed)
    max_act = layer.max_activation(neuron.index)
    value, per, n_tok, usage = score_records(explanation, list(triggers or ()), records, max_act, simulator, llm)
    return Score(neuron=str(neuron), model=wb.target.name, explanation=explanation, method="simulation",
                 simulator=simulator, value=round(value, 5), per_example=[None if c is None else round(c, 5) for c in per],
                 n_tokens=n_tok, n_examples=len(records), split=held, llm=llm.name if llm else None,
                 prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens)
