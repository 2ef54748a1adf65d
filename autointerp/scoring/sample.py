"""Examples for detection and fuzzing, drawn from the layer cache as EleutherAI's delphi draws them.

delphi (delphi/config.py, delphi/latents/constructors.py, delphi/latents/samplers.py): positives
are `n_examples_test` = 50 examples spread over `n_quantiles` = 10 quantiles of *all* activating
examples (sorted by max, strongest first, equal-count slices, the remainder dropped;
`split_quantiles` takes n // n_quantiles at random from each); negatives are `n_non_activating` = 50
random examples in which the unit never fires; examples are `example_ctx_len` = 32 tokens.

Here, on a cache of 64-token windows:
- "Fires" means an activation above `fire_threshold` x the neuron's cached max (default 0.1: the
  token would show as at least 1 on the 0-10 scale explanations are written from). delphi's SAE
  latents are exactly zero when silent, so its rule is threshold 0; a SiLU/GELU neuron is almost
  never exactly zero, nor negative on a whole window (L29.N720 has a positive token in all of 100
  random windows), so at 0 its pool of negatives would be empty.
- Activating windows are the cache's uniform samples of windows (cache/stream.py: the quantile
  sample of windows whose max is positive, and the random windows) whose max fires; the quantiles
  are taken over them, so they estimate the quantiles of all activating windows (the top windows
  are not a uniform sample and would bias them). Each positive is the 32 tokens around its window's
  peak, placed as delphi's `pool_centered_activation_windows` places it (24 tokens before, 7 after),
  shifted to stay inside the window.
- Negatives are 32-token stretches of the random windows in which no token fires, one per window.
- No window the explainer is shown (the split's explain windows) is used, nor one window twice.
Everything is deterministic in (seed, layer, neuron).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from autointerp.cache.view import LayerCache
from autointerp.errors import InputError
from autointerp.records import ActivationRecord


class EmptyPool(InputError):
    """The cache holds no example of one kind (e.g. no window where the neuron never fires)."""


@dataclass(frozen=True)
class SampleConfig:
    """delphi's sizes by default."""

    n_positive: int = 50  # SamplerConfig.n_examples_test
    n_quantiles: int = 10  # SamplerConfig.n_quantiles
    n_negative: int = 50  # ConstructorConfig.n_non_activating
    example_len: int = 32  # ConstructorConfig.example_ctx_len
    fire_threshold: float = 0.1  # fraction of the neuron's max; delphi's SAE latents: 0

    def check(self) -> None:
        if self.n_quantiles < 1:
            raise InputError(f"quantiles must be >= 1, got {self.n_quantiles}")
        if self.n_positive < self.n_quantiles:
            raise InputError(f"{self.n_positive} positives cannot cover {self.n_quantiles} quantiles: "
                             "ask for at least one per quantile")
        if self.n_negative < 1:
            raise InputError(f"negatives must be >= 1, got {self.n_negative}")
        if self.example_len < 2:
            raise InputError(f"examples must be at least 2 tokens, got {self.example_len}")
        if not 0 <= self.fire_threshold < 1:
            raise InputError(f"the fire threshold is a fraction of the neuron's max in [0, 1), got {self.fire_threshold}")


@dataclass(frozen=True)
class Example:
    window: int
    start: int  # index in the window of the first token
    tokens: list[str]
    activations: list[float]
    quantile: int | None  # 0 = strongest; None for a negative

    @property
    def max_activation(self) -> float:
        return max(self.activations)


@dataclass
class Sample:
    positives: list[Example]
    negatives: list[Example]
    threshold: float  # absolute: an activation above it fires
    activating_pool: int  # activating windows the quantiles were taken over
    negative_pool: int  # random windows with a stretch that never fires
    notes: list[str] = field(default_factory=list)


def _uniform_windows(layer: LayerCache, n: int) -> list[ActivationRecord]:
    """The cache's uniform samples of windows for neuron n: its quantile sample and the random windows."""
    wins, acts = layer.arrays["q_win"][n], layer.arrays["q_acts"][n]
    recs = {int(w): layer.record(int(w), acts[i]) for i, w in enumerate(wins) if w >= 0}
    for r in layer.random(n):
        recs.setdefault(r.window, r)
    return [recs[w] for w in sorted(recs)]


def _around_peak(rec: ActivationRecord, length: int) -> int:
    """Start of the `length` tokens holding the peak at delphi's place (length - length // 4)."""
    first = int(rec.has_bos)
    return min(max(first, rec.max_index - (length - length // 4)), len(rec.tokens) - length)


def _example(rec: ActivationRecord, start: int, length: int, quantile: int | None) -> Example:
    return Example(rec.window, start, rec.tokens[start:start + length], rec.activations[start:start + length],
                   quantile)


def sample_examples(layer: LayerCache, index: int, cfg: SampleConfig = SampleConfig(),
                    exclude: frozenset[int] | set[int] = frozenset(), seed: int = 0) -> Sample:
    """Positives from the quantiles of the activating windows and negatives that never fire (see the
    module doc); `exclude`: windows never to use (the explainer's). A short pool is used whole and
    noted; an empty one raises EmptyPool."""
    cfg.check()
    rng = np.random.default_rng([seed, layer.manifest.layer, index, 16])
    peak = layer.max_activation(index)
    if peak <= 0:
        raise EmptyPool(f"neuron {index} of layer {layer.manifest.layer} never has a positive activation in the cache")
    thr = cfg.fire_threshold * peak
    what = f"fires: activation above {cfg.fire_threshold:g} x its max {peak:.4g}"
    pool = _uniform_windows(layer, index)
    length = len(pool[0].tokens) - int(pool[0].has_bos) if pool else 0
    if cfg.example_len > length:
        raise InputError(f"examples of {cfg.example_len} tokens do not fit the cached windows ({length} tokens)")
    notes: list[str] = []

    active = sorted((r for r in pool if r.max_activation > thr), key=lambda r: -r.max_activation)
    size = len(active) // cfg.n_quantiles
    if size == 0:
        raise EmptyPool(f"only {len(active)} sampled windows where the neuron fires ({what}), fewer than "
                        f"{cfg.n_quantiles} quantiles: lower the fire threshold or the quantiles")
    per = cfg.n_positive // cfg.n_quantiles
    positives: list[Example] = []
    for q in range(cfg.n_quantiles):
        bucket = [r for r in active[q * size:(q + 1) * size] if r.window not in exclude]
        picks = bucket if len(bucket) <= per else [bucket[i] for i in sorted(rng.choice(len(bucket), per, replace=False))]
        positives += [_example(r, _around_peak(r, cfg.example_len), cfg.example_len, q) for r in picks]
    want = per * cfg.n_quantiles
    if len(positives) < want:
        notes.append(f"{len(positives)} of {want} positives: the quantiles of the {len(active)} sampled activating "
                     "windows held too few the explainer was not shown")
    if cfg.n_positive % cfg.n_quantiles:
        notes.append(f"{want} positives, {per} per quantile (delphi's n // quantiles)")

    used = set(exclude) | {e.window for e in positives}
    quiet: list[Example] = []
    randoms = layer.random(index)
    for r in randoms:
        if r.window in used:
            continue
        first = int(r.has_bos)
        starts = sorted({first, len(r.tokens) - cfg.example_len})
        ok = [s for s in starts if max(r.activations[s:s + cfg.example_len]) <= thr]
        if ok:
            quiet.append(_example(r, ok[int(rng.integers(len(ok)))], cfg.example_len, None))
    if not quiet:
        raise EmptyPool(f"no cached window where the neuron never fires ({what}) for {cfg.example_len} tokens: "
                        f"each of the {len(randoms)} random windows fires; raise the fire threshold "
                        "or shorten the examples")
    negatives = quiet if len(quiet) <= cfg.n_negative else [
        quiet[i] for i in sorted(rng.choice(len(quiet), cfg.n_negative, replace=False))]
    if len(negatives) < cfg.n_negative:
        notes.append(f"{len(negatives)} of {cfg.n_negative} negatives: only {len(quiet)} random windows hold "
                     f"{cfg.example_len} tokens where the neuron never fires ({what})")
    return Sample(positives, negatives, thr, len(active), len(quiet), notes)
