"""What the pages show, assembled from the caches, the store and the transcripts: plain data.
Nothing here knows about HTTP; shading, figures and the best-explanation rule are the presentation
layer's (`autointerp.present`).

Every string that comes from a corpus, an LLM or an imported file leaves this module as data,
escaped by Jinja2's autoescape or set with `textContent` in the browser.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autointerp import events as ev
from autointerp.agent import transcript as tr
from autointerp.cache.store import read_manifest
from autointerp.config import Settings
from autointerp.present.scores import value_text
from autointerp.records import (
    CacheManifest,
    DictionaryInfo,
    Explanation,
    Firing,
    UnitId,
)

# ---- transcripts ----


def _short(value: object, limit: int = 4000) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + f" … ({len(text) - limit:,} more characters)"


def event_view(e: tr.Event) -> dict:
    """One transcript event as the page shows it: type, step, a title line and a body (plain text)."""
    match e:
        case ev.Start():
            title = f"start: {e.method} by {e.explainer or 'no LLM'}, simulator {e.simulator}"
            body = _short({"neuron": e.neuron, "model": e.model, "config": e.config})
        case ev.Prompt():
            title, body = f"prompt ({e.role})", _short(e.content)
        case ev.Reply():
            calls = [c.model_dump() for c in e.tool_calls]
            title = "LLM reply" + (": calls " + ", ".join(c.name for c in e.tool_calls) if calls else "")
            body = _short(e.content) + ("\n" + _short(calls) if calls else "")
        case ev.ToolCall():
            title, body = f"tool call: {e.name}", _short(e.args)
        case ev.ToolResult():
            title, body = f"{e.name} → result" + ("" if e.ok else " (error)"), _short(e.result)
        case ev.Observation():
            title, body = "observation", _short(e.content)
        case ev.Score():
            title, body = f"score ({e.split}{', ' + e.source if e.source else ''}): {value_text(e.value)}", e.text
        case ev.Final():
            title = "final" + (f": stopped ({e.stop})" if e.stop else "") + (
                f", validation {e.validation:+.4f}" if e.validation is not None else "")
            body = str(e.record.get("text", ""))
        case ev.Error():
            title, body = "error", e.error
    return {"type": e.type, "step": e.step, "at": e.at.isoformat(), "title": title, "body": body}


def transcript_view(path: Path) -> list[dict]:
    try:
        return [event_view(e) for e in tr.load(path)]
    except (OSError, ValueError) as e:
        return [{"type": "error", "step": 0, "at": "", "title": "unreadable transcript", "body": str(e)}]


# ---- the data dir's caches ----


@dataclass
class LayerInfo:
    layer: int
    cached: int = 0  # neurons with a complete cache (the layer's d_mlp)
    explained: int = 0  # neurons with at least one current explanation
    confident: int = 0  # explained neurons with at least one current explanation marked confident
    records: int = 0
    corpora: list[str] = field(default_factory=list)


@dataclass
class DictionaryEntry:
    """A registered dictionary of the served model as the index lists it: what `sae list` shows, whether
    its cache is complete, and how many of its latents the store explains."""

    info: DictionaryInfo
    cached: bool = False
    corpus: str = ""
    explained: int = 0  # latents with at least one current explanation
    confident: int = 0  # explained latents with at least one current explanation marked confident

    def as_json(self) -> dict:
        return {**self.info.model_dump(mode="json"), "cached": self.cached, "corpus": self.corpus,
                "explained": self.explained, "confident": self.confident}


@dataclass
class ModelInfo:
    name: str
    served: bool
    layers: dict[int, LayerInfo] = field(default_factory=dict)
    dictionaries: list[DictionaryEntry] = field(default_factory=list)  # the served model's only

    def layer(self, n: int) -> LayerInfo:
        return self.layers.setdefault(n, LayerInfo(n))

    @property
    def sorted_layers(self) -> list[LayerInfo]:
        return [self.layers[k] for k in sorted(self.layers)]


def cache_manifests(settings: Settings, dictionaries: bool = False) -> list[CacheManifest]:
    """Every complete layer cache (or, with `dictionaries`, every dictionary cache) of the served cache
    seed under the data dir (read from the manifests; nothing is loaded)."""
    found = []
    for manifest in settings.layout.cache_manifests():
        m = read_manifest(manifest.parent)
        if (m is not None and m.status == "complete" and m.seed == settings.cache_seed
                and (m.dictionary is not None) == dictionaries):
            found.append(m)
    return found


def _corpus_line(m: CacheManifest) -> str:
    return f"{m.corpus}: {m.n_windows_target:,} windows of {m.window} tokens"


def dictionary_entries(settings: Settings, records: list[Explanation], model: str) -> list[DictionaryEntry]:
    """The dictionaries registered for `model`, each with its cache (from the manifests) and the
    latents its current explanations cover."""
    from autointerp.dictionaries import list_dictionaries

    entries = {i.name: DictionaryEntry(i) for i in list_dictionaries(settings.layout, model)}
    for m in cache_manifests(settings, dictionaries=True):
        e = entries.get(m.dictionary or "") if m.model == model else None
        if e is not None and m.layer == e.info.layer and m.d_mlp == e.info.n_latents:
            e.cached = True
            e.corpus = "; ".join(filter(None, [e.corpus, _corpus_line(m)]))
    explained: dict[str, set[str]] = {}
    confident: dict[str, set[str]] = {}
    for r in records:
        nid = UnitId.parse(r.neuron)
        e = entries.get(nid.dictionary or "") if r.model == model else None
        if e is not None and nid.layer == e.info.layer:
            explained.setdefault(e.info.name, set()).add(r.neuron)
            if r.confident:
                confident.setdefault(e.info.name, set()).add(r.neuron)
    for name, e in entries.items():
        e.explained, e.confident = len(explained.get(name, ())), len(confident.get(name, ()))
    return list(entries.values())


def overview(settings: Settings, records: list[Explanation], served: str) -> list[ModelInfo]:
    """Models with caches or stored explanations; per layer, neurons cached, explained, confident
    (the neurons' caches and records: a dictionary's latents are counted with their dictionary, which
    the served model lists)."""
    models: dict[str, ModelInfo] = {served: ModelInfo(served, True)}
    for m in cache_manifests(settings):
        info = models.setdefault(m.model, ModelInfo(m.model, m.model == served))
        layer = info.layer(m.layer)
        layer.cached = max(layer.cached, m.d_mlp)
        layer.corpora.append(_corpus_line(m))
    explained: dict[tuple[str, int], set[str]] = {}
    confident: dict[tuple[str, int], set[str]] = {}
    for r in records:
        nid = UnitId.parse(r.neuron)
        key = (r.model, nid.layer)
        info = models.setdefault(r.model, ModelInfo(r.model, r.model == served))
        if nid.dictionary is not None:
            continue
        info.layer(nid.layer).records += 1
        explained.setdefault(key, set()).add(r.neuron)
        if r.confident:
            confident.setdefault(key, set()).add(r.neuron)
    for (model, layer), neurons in explained.items():
        info = models[model].layer(layer)
        info.explained = len(neurons)
        info.confident = len(confident.get((model, layer), ()))
    models[served].dictionaries = dictionary_entries(settings, records, served)
    return sorted(models.values(), key=lambda m: (not m.served, m.name))


# ---- one unit source: a layer's neurons or a dictionary's latents ----


@dataclass
class LayerSummary:
    """Figures of every unit of a cached source (a layer's neurons, a dictionary's latents), computed
    from the cache arrays in one pass; `firing` for latents only (a neuron is never dead or rare)."""

    maxes: list[float]
    top_tokens: list[list[str]]
    firing: list[Firing] | None = None


def layer_summary(cache, examples: int = 20, tokens: int = 5) -> LayerSummary:
    """Per unit: the largest window max and the first distinct max tokens of its top windows; per
    latent also how often it fires (`LayerCache.firing`: the one dead / rare / live rule)."""
    a = cache.arrays
    keys, wins = np.asarray(a["top_keys"]), np.asarray(a["top_win"])
    valid = wins >= 0
    maxes = np.where(valid.any(axis=1), -np.where(valid, keys, np.inf).min(axis=1), 0.0)
    order = np.argsort(np.where(valid, keys, np.inf), axis=1, kind="stable")[:, :examples]
    picked_wins = np.take_along_axis(wins, order, axis=1)
    acts = a["top_acts"]  # [N, K, T], dense or stored as nonzeros: read unit by unit
    picked = np.stack([np.asarray(acts[n])[order[n]] for n in range(len(order))]).astype(np.float32)
    start = cache.start
    pos = start + np.argmax(picked[:, :, start:], axis=2)
    window_tokens = np.asarray(cache.plan.windows.tokens)
    ids = window_tokens[np.clip(picked_wins, 0, None), pos]
    uniq = np.unique(ids)
    decoded = dict(zip(uniq.tolist(), cache.target.token_strings(uniq.tolist())))
    top_tokens = []
    for n in range(ids.shape[0]):
        row = [decoded[int(i)] for i, ok in zip(ids[n], picked_wins[n] >= 0) if ok]
        top_tokens.append([t for t, _ in Counter(row).most_common(tokens)])
    firing = [cache.firing(n) for n in range(ids.shape[0])] if cache.source.dictionary is not None else None
    return LayerSummary(maxes=[round(float(m), 5) for m in maxes], top_tokens=top_tokens, firing=firing)
