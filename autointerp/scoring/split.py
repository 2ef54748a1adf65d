"""The held-out split: examples shown to an explainer are never used to score it."""

from __future__ import annotations

import numpy as np

from autointerp.cache.view import LayerCache
from autointerp.records import ActivationRecord, HeldOutSplit, SplitKind


def held_out(layer: LayerCache, index: int, n_top: int = 5, n_random: int = 5, kind: SplitKind = "top-and-random",
             seed: int = 0) -> tuple[list[ActivationRecord], list[ActivationRecord], HeldOutSplit]:
    """(explainer's examples, scoring examples, the recorded split), deterministic in (seed, layer, neuron).

    Scoring takes n_top windows drawn from the neuron's top examples (OpenAI's "top-and-random"
    takes 5 + 5) and n_random of the random windows; the explainer gets the other top examples.
    """
    rng = np.random.default_rng([seed, layer.manifest.layer, index])
    top = layer.top(index)
    rand = layer.random(index)
    score_top: list[ActivationRecord] = []
    if kind == "top-and-random" and top:
        picks = rng.choice(len(top), size=min(n_top, max(1, len(top) // 2)), replace=False)
        score_top = [top[i] for i in sorted(picks)]
    score_random = [rand[i] for i in sorted(rng.choice(len(rand), size=min(n_random, len(rand)), replace=False))]
    held = {r.window for r in score_top + score_random}
    explain = [r for r in top if r.window not in held]
    split = HeldOutSplit(kind=kind, seed=seed, explain_windows=[r.window for r in explain],
                         score_top_windows=[r.window for r in score_top],
                         score_random_windows=[r.window for r in score_random])
    return explain, score_top + score_random, split
