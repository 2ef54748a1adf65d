"""What the pages show, assembled from the caches, the store and the transcripts: plain data and
small inline SVGs. Nothing here knows about HTTP.

Every string that comes from a corpus, an LLM or an imported file leaves this module either as data
(escaped by Jinja2's autoescape, or set with `textContent` in the browser) or, in the few pre-built
fragments (`window_markup`, the SVGs), escaped here with markupsafe.
"""

from __future__ import annotations

import html
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from markupsafe import Markup, escape

from autointerp.agent import transcript as tr
from autointerp.config import Settings
from autointerp.records import ActivationRecord, CacheManifest, Explanation, NeuronId, NeuronStats
from autointerp.store.keys import headline, timestamp

# ---- token shading (the same colours as `autointerp show --html`) ----


def shade(a: float, scale: float) -> str:
    """The background of a token: orange for positive activations, blue for negative ones; "" when
    it would be invisible (most tokens: the page stays small)."""
    x = max(-1.0, min(1.0, a / scale)) if scale > 0 else 0.0
    if abs(x) < 0.02:
        return ""
    alpha = f"{abs(x):.2f}".lstrip("0")
    return f"rgba(255,120,0,{alpha})" if x >= 0 else f"rgba(40,110,255,{alpha})"


def _attr(text: str) -> str:
    """Text for a double-quoted attribute (single quotes need no escaping there)."""
    return html.escape(text, quote=False).replace('"', "&quot;")


def token_text(t: str) -> str:
    """A token as shown: newlines visible as ↵ (and kept, for pre-wrap), carriage returns dropped."""
    return t.replace("\r", "").replace("\n", "↵\n")


def window_markup(rec: ActivationRecord, scale: float) -> Markup:
    """Every token of a window shaded by its activation, `'token': value` on hover; tokens escaped."""
    out = []
    for i, (t, a) in enumerate(zip(rec.tokens, rec.activations)):
        if rec.has_bos and i == 0:
            continue
        bg = shade(a, scale)
        attrs = (' class="max"' if i == rec.max_index else "") + (f' style="background:{bg}"' if bg else "")
        out.append(f'<span{attrs} title="{_attr(repr(t))}: {a:.4f}">{escape(token_text(t))}</span>')
    return Markup("".join(out))


# ---- SVG figures ----


def histogram_svg(stats: NeuronStats, width: int = 600, height: int = 110) -> Markup:
    h = stats.histogram
    nz = [i for i, c in enumerate(h.counts) if c]
    if not nz:
        return Markup("")
    lo, hi = nz[0], nz[-1] + 1
    counts = h.counts[lo:hi]
    bw, top = width / len(counts), max(counts)
    # log scale: the mass near zero would flatten every bar that matters
    y = [height * math.log1p(c) / math.log1p(top) for c in counts]
    bars = "".join(
        f'<rect x="{i * bw:.1f}" y="{height - v:.1f}" width="{max(bw - 1, 1):.1f}" height="{v:.1f}">'
        f'<title>[{h.edges[lo + i]:.3g}, {h.edges[lo + i + 1]:.3g}): {c:,}</title></rect>'
        for i, (c, v) in enumerate(zip(counts, y)))
    return Markup(
        f'<svg class="hist" viewBox="0 0 {width} {height + 16}" width="{width}" height="{height + 16}" role="img" '
        f'aria-label="activation histogram (log counts)">{bars}'
        f'<text x="0" y="{height + 13}">{h.edges[lo]:.3g}</text>'
        f'<text x="{width}" y="{height + 13}" text-anchor="end">{h.edges[hi]:.3g}</text></svg>')


def max_plot_svg(maxes: list[float], explained: set[int], height: int = 120) -> Markup:
    """Max activation per neuron (the seed's Fig 1): explained neurons in red."""
    if not maxes:
        return Markup("")
    top = max(max(maxes), 1e-9)
    paths: dict[bool, list[str]] = {False: [], True: []}
    for i, m in enumerate(maxes):
        v = height * max(m, 0.0) / top
        if v > 0:
            paths[i in explained].append(f"M{i + 0.5:.1f} {height}V{height - v:.2f}")
    n = len(maxes)
    body = "".join(f'<path class="{"explained" if flag else "bar"}" d="{"".join(d)}"/>'
                   for flag, d in paths.items() if d)
    return Markup(
        f'<svg class="maxplot" viewBox="0 0 {n} {height}" preserveAspectRatio="none" width="100%" height="{height}" '
        f'role="img" aria-label="max activation per neuron; explained ones in red">{body}</svg>')


# ---- transcripts ----

def _short(value: object, limit: int = 4000) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + f" … ({len(text) - limit:,} more characters)"


def event_view(e: tr.Event) -> dict:
    """One transcript event as the page shows it: type, step, a title line and a body (plain text)."""
    d = e.data
    if e.type == "start":
        title = f"start: {d.get('method')} by {d.get('explainer') or 'no LLM'}, simulator {d.get('simulator')}"
        body = _short({k: d.get(k) for k in ("neuron", "model", "config")})
    elif e.type == "prompt":
        title, body = f"prompt ({d.get('role')})", _short(d.get("content", ""))
    elif e.type == "llm":
        calls = d.get("tool_calls") or []
        title = "LLM reply" + (": calls " + ", ".join(str(c.get("name")) for c in calls if isinstance(c, dict))
                               if calls else "")
        body = _short(d.get("content", "")) + ("\n" + _short(calls) if calls else "")
    elif e.type == "tool_call":
        title, body = f"tool call: {d.get('name')}", _short(d.get("args", {}))
    elif e.type == "tool_result":
        title = f"{d.get('name')} → result" + ("" if d.get("ok", True) else " (error)")
        body = _short(d.get("result", ""))
    elif e.type == "observation":
        title, body = "observation", _short(d.get("content", ""))
    elif e.type == "score":
        value = d.get("value")
        shown = f"{value:+.4f}" if isinstance(value, (int, float)) else "undefined" if value is None else str(value)
        title = f"score ({d.get('split')}{', ' + str(d['source']) if d.get('source') else ''}): {shown}"
        body = str(d.get("text", ""))
    elif e.type == "final":
        rec = d.get("record") or {}
        val = d.get("validation")
        title = "final" + (f": stopped ({d['stop']})" if d.get("stop") else "") + (
            f", validation {val:+.4f}" if isinstance(val, (int, float)) else "")
        body = str(rec.get("text", "")) if isinstance(rec, dict) else ""
    elif e.type == "error":
        title, body = "error", str(d.get("error", ""))
    else:
        title, body = e.type, _short(d)
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
class ModelInfo:
    name: str
    served: bool
    layers: dict[int, LayerInfo] = field(default_factory=dict)

    def layer(self, n: int) -> LayerInfo:
        return self.layers.setdefault(n, LayerInfo(n))

    @property
    def sorted_layers(self) -> list[LayerInfo]:
        return [self.layers[k] for k in sorted(self.layers)]


def cache_manifests(settings: Settings) -> list[CacheManifest]:
    """Every complete layer cache under the data dir (read from the manifests; nothing is loaded)."""
    from autointerp.cache.store import read_manifest

    root = settings.data_dir / "cache"
    found = []
    for manifest in sorted(root.glob("*/*/w*/layer*/manifest.json")) if root.is_dir() else ():
        m = read_manifest(manifest.parent)
        if m is not None and m.status == "complete":
            found.append(m)
    return found


def overview(settings: Settings, records: list[Explanation], served: str) -> list[ModelInfo]:
    """Models with caches or stored explanations; per layer, neurons cached, explained, confident."""
    models: dict[str, ModelInfo] = {served: ModelInfo(served, True)}
    for m in cache_manifests(settings):
        info = models.setdefault(m.model, ModelInfo(m.model, m.model == served))
        layer = info.layer(m.layer)
        layer.cached = max(layer.cached, m.d_mlp)
        layer.corpora.append(f"{m.corpus}: {m.n_windows_target:,} windows of {m.window} tokens")
    explained: dict[tuple[str, int], set[str]] = {}
    confident: dict[tuple[str, int], set[str]] = {}
    for r in records:
        nid = NeuronId.parse(r.neuron)
        key = (r.model, nid.layer)
        models.setdefault(r.model, ModelInfo(r.model, r.model == served)).layer(nid.layer).records += 1
        explained.setdefault(key, set()).add(r.neuron)
        if r.confident:
            confident.setdefault(key, set()).add(r.neuron)
    for (model, layer), neurons in explained.items():
        info = models[model].layer(layer)
        info.explained = len(neurons)
        info.confident = len(confident.get((model, layer), ()))
    return sorted(models.values(), key=lambda m: (not m.served, m.name))


# ---- one layer ----


@dataclass
class LayerSummary:
    """Figures of every neuron of a cached layer, computed from the cache arrays in one pass."""

    maxes: list[float]
    top_tokens: list[list[str]]


def layer_summary(cache, examples: int = 20, tokens: int = 5) -> LayerSummary:
    """Per neuron: the largest window max and the first distinct max tokens of its top windows."""
    a = cache.arrays
    keys, wins = np.asarray(a["top_keys"]), np.asarray(a["top_win"])
    valid = wins >= 0
    maxes = np.where(valid.any(axis=1), -np.where(valid, keys, np.inf).min(axis=1), 0.0)
    order = np.argsort(np.where(valid, keys, np.inf), axis=1, kind="stable")[:, :examples]
    picked_wins = np.take_along_axis(wins, order, axis=1)
    acts = np.asarray(a["top_acts"])  # [N, K, T]
    picked = np.take_along_axis(acts, order[:, :, None], axis=1).astype(np.float32)
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
    return LayerSummary(maxes=[round(float(m), 5) for m in maxes], top_tokens=top_tokens)


def best_per_neuron(records: list[Explanation]) -> dict[int, tuple[Explanation, int]]:
    """Per neuron index: its best-scored current explanation (unscored last; ties: newest) and how many it has."""
    by: dict[int, list[Explanation]] = {}
    for r in records:
        by.setdefault(NeuronId.parse(r.neuron).index, []).append(r)
    out = {}
    for i, rs in by.items():
        best = max(rs, key=lambda e: (headline(e) is not None, headline(e) or 0.0, timestamp(e)))
        out[i] = (best, len(rs))
    return out
