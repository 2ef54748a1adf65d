"""`triage`: the seed paper's layer scan, from the cache alone (no LLM).

Per neuron: relatedness = mean pairwise cosine of MiniLM embeddings of its top examples' max
tokens with 3 words of context either side (flagged at a threshold, default 0.6); normalised
activation = the neuron's max over the largest max in the scanned range (the seed's 0..1 score);
unique max tokens.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
from pydantic import Field

from autointerp.embeddings import embed
from autointerp.errors import InputError
from autointerp.fileio import atomic_write_bytes, atomic_write_text
from autointerp.records import OmitNone, UnitActivity
from autointerp.targets import UnitSource
from autointerp.tools.show import snippet
from autointerp.workbench import Workbench


class TriageRow(OmitNone):
    _optional: ClassVar[tuple[str, ...]] = ("frequency", "activity")

    index: int
    max_activation: float
    normalised_activation: float
    unique_tokens: list[str]
    relatedness: float
    flagged: bool
    frequency: float | None = Field(default=None, description="a latent's: tokens > 0 over tokens seen")
    activity: UnitActivity | None = Field(default=None, description="a latent's: live, rare or dead")


class TriageResult(OmitNone):
    """A scan of a layer's neurons, or of a dictionary's latents (then with dead and rare counts;
    a neuron scan's JSON is as it was)."""

    _optional: ClassVar[tuple[str, ...]] = ("dictionary", "dead", "rare")

    model: str
    layer: int
    threshold: float
    examples: int
    rows: list[TriageRow]
    dictionary: str | None = None
    dead: int | None = None
    rare: int | None = None


def triage(wb: Workbench, layer: int | None, neurons: Sequence[int] | range, threshold: float = 0.6,
           examples: int = 20, dictionary: str | None = None) -> TriageResult:
    """Scan `neurons` of `layer` (indices, e.g. from `autointerp.ranges.parse_indices`), or with
    `dictionary` those latents of a registered dictionary (`layer`: None or the dictionary's)."""
    if len(neurons) == 0:
        raise InputError("the neuron range is empty")
    target = wb.target
    source = source_of(wb, layer, dictionary)
    layer, n_units = source.layer, source.n_units
    bad = [n for n in neurons if not 0 <= n < n_units]
    if bad:
        what = f"layer {layer} has neurons" if dictionary is None else f"{source.id} has latents"
        raise InputError(f"{'neuron' if dictionary is None else 'latent'} {bad[0]} is out of range: "
                         f"{what} 0..{n_units - 1}")
    cache = wb.cache(source)
    recs = {n: cache.top(n, examples) for n in neurons}
    texts, owner = [], []
    for n, rs in recs.items():
        for r in rs:
            texts.append(snippet(r).plain().strip())
            owner.append(n)
    vecs = embed(texts)
    owner_arr = np.array(owner)
    maxes = {n: (rs[0].max_activation if rs else 0.0) for n, rs in recs.items()}
    top_max = max(maxes.values()) or 1.0
    rows = []
    for n, rs in recs.items():
        v = vecs[owner_arr == n]
        if len(v) > 1:
            sims = v @ v.T
            rel = float((sims.sum() - np.trace(sims)) / (len(v) * (len(v) - 1)))
        else:
            rel = 0.0
        uniq = list(dict.fromkeys(r.max_token for r in rs))
        fired = cache.firing(n) if dictionary is not None else None
        rows.append(TriageRow(index=n, max_activation=round(maxes[n], 5),
                              normalised_activation=round(maxes[n] / top_max, 5), unique_tokens=uniq,
                              relatedness=round(rel, 5), flagged=rel >= threshold,
                              frequency=None if fired is None else fired.frequency,
                              activity=None if fired is None else fired.activity))
    counts = {} if dictionary is None else \
        {"dictionary": dictionary, **{a: sum(r.activity == a for r in rows) for a in ("dead", "rare")}}
    return TriageResult(model=target.name, layer=layer, threshold=threshold, examples=examples, rows=rows, **counts)


def source_of(wb: Workbench, layer: int | None, dictionary: str | None) -> UnitSource:
    """The layer's neurons, or the dictionary (whose layer, when given, must be `layer`)."""
    if dictionary is None:
        if layer is None:
            raise InputError("give a layer (neurons) or a dictionary (its latents)")
        wb.target.check_layer(layer)
        return wb.target.neurons(layer)
    from autointerp.dictionaries import open_dictionary
    from autointerp.dictionaries.registry import check_name

    source = open_dictionary(wb.target, check_name(dictionary))
    if layer is not None and layer != source.layer:
        raise InputError(f"the dictionary {dictionary!r} reads layer {source.layer}, not layer {layer}")
    return source


def write_csv(res: TriageResult, path: Path) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    latents = res.dictionary is not None  # a neuron scan's CSV is as it was
    w.writerow(["index", "normalised_activation", "max_activation", "unique_tokens", "relatedness", "flagged"]
               + ["frequency", "activity"] * latents)
    for r in res.rows:
        w.writerow([r.index, f"{r.normalised_activation:.5f}", f"{r.max_activation:.5f}",
                    " | ".join(repr(t) for t in r.unique_tokens), f"{r.relatedness:.5f}", int(r.flagged)]
                   + ([f"{r.frequency:.6g}", r.activity] if latents else []))
    atomic_write_text(path, buf.getvalue())


def write_plot(res: TriageResult, path: Path) -> None:
    """The seed's Fig 1: activation per neuron (flagged neurons highlighted)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3.5))
    idx = [r.index for r in res.rows]
    ax.bar(idx, [r.normalised_activation for r in res.rows],
           color=["#d62728" if r.flagged else "#1f77b4" for r in res.rows], width=1.0)
    ax.set_xlabel(f"neuron (layer {res.layer})" if res.dictionary is None else f"latent ({res.layer}-{res.dictionary})")
    ax.set_ylabel("normalised max activation")
    ax.set_title(f"{res.model} layer {res.layer}: red = relatedness >= {res.threshold}")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
