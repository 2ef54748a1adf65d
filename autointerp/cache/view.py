"""Read a finished unit cache (a layer's neurons, a dictionary's latents) and assemble one unit's
examples and statistics."""

from __future__ import annotations

import math
from collections import Counter
from functools import lru_cache

import numpy as np
from rich.console import Console

from autointerp.cache import store
from autointerp.cache.build import CachePlan, Sources, label, mismatch, plan, run_plan
from autointerp.cache.sparse import SparseRows
from autointerp.config import Settings, get_settings
from autointerp.errors import CacheError
from autointerp.records import (
    RARE_WINDOWS,
    ActivationRecord,
    CacheManifest,
    Firing,
    Histogram,
    NeuronExamples,
    NeuronStats,
    QuantileBin,
    TopToken,
    UnitId,
    unit_activity,
)
from autointerp.targets import Target, UnitSource

WINDOWS_KEPT = 8192  # decoded windows kept per open cache (about 10 MB at 64 tokens)


@lru_cache(maxsize=1)
def rounded_f16() -> np.ndarray:
    """round(v, 5) of every float16 value, indexed by its bits: the cache stores activations as
    float16, and Python's correctly rounded round() of each one was half the cost of a unit's examples."""
    values = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float64).tolist()
    return np.array([round(v, 5) if math.isfinite(v) else v for v in values], dtype=np.float64)


class LayerCache:
    """A verified, complete cache of one unit source (arrays memory-mapped): a layer's neurons or a
    dictionary's latents at a layer."""

    def __init__(self, p: CachePlan, manifest: CacheManifest, source: UnitSource) -> None:
        self.plan, self.manifest, self.source = p, manifest, source
        self.target: Target = p.target
        self.arrays = store.load_arrays(p.directory(source), manifest)
        self.start = int(p.windows.has_bos)
        self.decode = lru_cache(maxsize=None)(lambda i: self.target.tokenizer.decode([i]))  # one token id
        # A window's ids and token strings, shared by every unit that shows it (the random windows are
        # the same for all): decoded once, not once per unit and request.
        self._window = lru_cache(maxsize=WINDOWS_KEPT)(self._read_window)

    def _read_window(self, window: int) -> tuple[tuple[int, ...], tuple[str, ...]]:
        ids = tuple(np.asarray(self.plan.windows.tokens[window]).tolist())
        return ids, tuple(self.decode(i) for i in ids)

    @property
    def n_tokens(self) -> int:
        return int(self.arrays["counters"][1])

    def record(self, window: int, acts: np.ndarray, max_activation: float | None = None) -> ActivationRecord:
        ids, tokens = self._window(window)
        raw = np.asarray(acts)
        acts = raw.astype(np.float32)
        idx = self.start + int(np.argmax(acts[self.start:]))
        return ActivationRecord(
            window=window, tokens=list(tokens), token_ids=list(ids),
            activations=rounded_f16()[raw.view(np.uint16)].tolist() if raw.dtype == np.float16 else
            [round(a, 5) for a in acts.astype(np.float64).tolist()],
            max_index=idx, max_token=tokens[idx],
            max_activation=float(acts[idx]) if max_activation is None else max_activation,
            has_bos=bool(self.start),
        )

    def stats(self, n: int) -> NeuronStats:
        a = self.arrays
        ntok = max(1, self.n_tokens)
        mean = float(a["sum"][n]) / ntok
        var = max(0.0, float(a["sumsq"][n]) / ntok - mean * mean)
        r = float(a["hist_range"][n])
        bins = a["hist_counts"].shape[1]
        return NeuronStats(
            max=float(a["max"][n]), min=float(a["min"][n]), mean=mean, std=math.sqrt(var),
            frac_positive=float(a["npos"][n]) / ntok, n_tokens=self.n_tokens,
            histogram=Histogram(edges=[float(x) for x in np.linspace(-r, r, bins + 1)],
                                counts=[int(c) for c in a["hist_counts"][n]]),
        )

    def firing(self, n: int, min_windows: int = RARE_WINDOWS) -> Firing:
        """How often unit n fires: tokens > 0 over tokens seen, and the windows it fires in (counted
        from the uniform sample of firing windows: exact below its size)."""
        a, ntok = self.arrays, self.n_tokens
        npos = int(a["npos"][n])
        windows = int((np.asarray(a["q_win"][n]) >= 0).sum())
        return Firing(tokens=ntok, tokens_firing=npos, frequency=npos / max(1, ntok), windows_firing=windows,
                      min_windows=min_windows, activity=unit_activity(npos, windows, min_windows))

    def max_activation(self, n: int) -> float:
        """The neuron's largest window max (its first top example), without decoding any window."""
        wins = self.arrays["top_win"][n]
        keys = self.arrays["top_keys"][n][wins >= 0]
        return float(-keys.min()) if keys.size else 0.0

    def top(self, n: int, limit: int | None = None) -> list[ActivationRecord]:
        """The neuron's top windows, strongest first; only the first `limit` are decoded."""
        keys, wins, acts = self.arrays["top_keys"][n], self.arrays["top_win"][n], self.arrays["top_acts"][n]
        order = [i for i in np.argsort(keys, kind="stable") if wins[i] >= 0][:limit]
        return [self.record(int(wins[i]), acts[i], max_activation=float(-keys[i])) for i in order]

    def random(self, n: int, limit: int | None = None) -> list[ActivationRecord]:
        """The random windows in window order; only the first `limit` are decoded."""
        wins, acts = self.arrays["r_win"], self.random_acts(n)
        order = [i for i in np.argsort(wins) if wins[i] >= 0][:limit]
        return [self.record(int(wins[i]), acts[i]) for i in order]

    def random_acts(self, n: int) -> np.ndarray:
        """Unit n's activations on the random windows [R, T]: a dense cache keeps them window-major
        (all units of a window together), a sparse one unit-major."""
        acts = self.arrays["r_acts"]
        return acts[n] if isinstance(acts, SparseRows) else acts[:, :, n]

    def quantiles(self, n: int, per_bin: int | None = None) -> list[QuantileBin]:
        """Equal-count bins (by window max) of a uniform sample of the neuron's activating windows;
        windows are ordered by their max before any is decoded, and at most `per_bin` per bin are."""
        wins, acts = np.asarray(self.arrays["q_win"][n]), self.arrays["q_acts"][n]
        live = np.flatnonzero(wins >= 0)
        if not live.size:
            return []
        peak = np.asarray(acts[live], dtype=np.float32)[:, self.start:].max(axis=1)  # each record's max
        rank = np.argsort(peak, kind="stable")
        order, peak = live[rank], peak[rank]
        s = self.plan.settings
        keep = s.per_bin if per_bin is None else min(per_bin, s.per_bin)
        groups = [g for g in np.array_split(np.arange(len(order)), min(s.quantile_bins, len(order))) if len(g)]
        return [QuantileBin(bin=b, low=float(peak[g[0]]), high=float(peak[g[-1]]),
                            examples=[self.record(int(wins[order[i]]), acts[order[i]]) for i in g[:keep]])
                for b, g in enumerate(groups)]

    def unit(self, unit: UnitId) -> NeuronExamples:
        """The unit's examples and statistics (a unit of this cache's source)."""
        if unit.source_id != self.source.id:
            raise ValueError(f"{unit} is not a unit of the {self.source.id} cache")
        self.source.check(unit.index)
        n, neuron = unit.index, unit
        top = self.top(n)
        counts = Counter(r.max_token for r in top)
        best: dict[str, float] = {}
        for r in top:
            best[r.max_token] = max(best.get(r.max_token, -math.inf), r.max_activation)
        uniq = [TopToken(token=t, count=c, max_activation=best[t]) for t, c in counts.most_common()]
        stats = self.stats(n)
        return NeuronExamples(
            neuron=str(neuron), model=self.target.name, corpus=self.manifest.corpus,
            corpus_hash=self.manifest.corpus_hash, window=self.manifest.window, n_tokens=self.n_tokens,
            max_activation=top[0].max_activation if top else stats.max, stats=stats, top=top,
            random=self.random(n), quantiles=self.quantiles(n), unique_top_tokens=uniq,
            **self._latent_fields(n),
        )

    def _latent_fields(self, n: int) -> dict:
        """A latent's firing and its dictionary's held-out FVU; nothing for a neuron (its JSON is unchanged)."""
        if self.source.dictionary is None:
            return {}
        info = getattr(self.source, "info", None)
        return {"firing": self.firing(n), "dictionary_fvu": getattr(info, "fvu", None)}


def _open_complete(p: CachePlan, src: UnitSource) -> LayerCache | None:
    """The layer's complete cache when it fits the plan and is intact, else None. A build elsewhere
    may swap in a new checkpoint between reading the manifest and mapping its files: then the new
    manifest is read again (a few times), never the swapped one half-used."""
    directory = p.directory(src)
    for _ in range(5):
        found = store.read_manifest(directory)
        if found is None or found.status != "complete" or mismatch(found, p.expected(src)):
            return None
        problem = store.verify(directory, found)
        if problem is None:
            try:
                plan_ = p if found.n_windows_target == p.n_windows else \
                    CachePlan(p.target, p.source, p.windows, found.n_windows_target, p.settings)
                return LayerCache(plan_, found, src)
            except FileNotFoundError:
                pass
        if store.read_manifest(directory) == found:
            return None  # damaged in place, not swapped
    return None


def open_layer(
    target: Target, layer: Sources, corpus: str | None = None, settings: Settings | None = None,
    build: bool = True, console: Console | None = None, progress: bool = True,
) -> LayerCache:
    """A unit source's complete cache (a number: that layer's neurons), whatever token budget built
    it; built (with progress) when missing. Plans the corpus and CRC-checks the files: call it once
    per source (the Workbench keeps the result)."""
    settings = settings or get_settings()
    if isinstance(layer, int):
        target.check_layer(layer)
    p = plan(target, corpus, None, settings)
    src = p.units(layer)
    found = _open_complete(p, src)
    if found is None:
        again = f"autointerp cache --layers {src.layer}" if src.dictionary is None else \
            f"autointerp cache --dictionary {src.dictionary}"
        if not build:
            raise CacheError(f"no complete cache for {label(src)} of {target.name}; run `{again}`")
        run_plan(p, [src], console, progress)
        found = _open_complete(p, src)
        if found is None:
            raise CacheError(f"the cache of {label(src)} of {target.name} was replaced or damaged while it was "
                             f"being built; run `{again}` again")
    return found
