"""Simulation scoring (OpenAI's protocol): correlate simulated with real, discretised activations."""

from __future__ import annotations

import math

import numpy as np

from autointerp.cache.view import open_layer
from autointerp.config import Settings
from autointerp.errors import InputError
from autointerp.records import (
    ActivationRecord,
    NeuronId,
    Score,
    SimulatorName,
    SplitKind,
)
from autointerp.scoring.simulators import get_simulator
from autointerp.scoring.split import held_out
from autointerp.tools.common import resolve


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


def score_records(explanation: str, triggers: list[str], records: list[ActivationRecord], max_activation: float,
                  simulator: SimulatorName, llm=None) -> tuple[float, list[float | None], int]:
    preds = get_simulator(simulator, llm).predict(explanation, triggers, records)
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
    return (0.0 if value is None else value), per, len(real_all)


def simulation_score(neuron: NeuronId | str, explanation: str, simulator: SimulatorName = "embedding",
                     triggers: list[str] | None = None, n_top: int = 5, n_random: int = 5,
                     kind: SplitKind = "top-and-random", model: str | None = None, corpus: str | None = None,
                     settings: Settings | None = None, llm=None) -> Score:
    """Score an explanation on the neuron's held-out windows (never ones an explainer is shown)."""
    if not explanation.strip():
        raise InputError("the explanation is empty")
    if n_top < 0 or n_random < 0 or n_top + n_random == 0:
        raise InputError("--top and --random must be >= 0 and not both 0")
    neuron, target, settings = resolve(neuron, model, settings)
    layer = open_layer(neuron.layer, model, corpus, settings)
    _, records, split = held_out(layer, neuron.index, n_top, n_random, kind, settings.seed)
    max_act = layer.max_activation(neuron.index)
    value, per, n_tok = score_records(explanation, triggers or [], records, max_act, simulator, llm)
    return Score(neuron=str(neuron), model=target.name, explanation=explanation, method="simulation",
                 simulator=simulator, value=round(value, 5), per_example=[None if c is None else round(c, 5) for c in per],
                 n_tokens=n_tok, n_examples=len(records), split=split, llm=llm.name if llm else None,
                 prompt_tokens=llm.usage.prompt_tokens if llm else 0,
                 completion_tokens=llm.usage.completion_tokens if llm else 0)
