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

import numpy as np
from pydantic import BaseModel

from autointerp.embeddings import embed
from autointerp.errors import InputError
from autointerp.fileio import atomic_write_bytes, atomic_write_text
from autointerp.tools.show import snippet
from autointerp.workbench import Workbench


class TriageRow(BaseModel):
    index: int
    max_activation: float
    normalised_activation: float
    unique_tokens: list[str]
    relatedness: float
    flagged: bool


class TriageResult(BaseModel):
    model: str
    layer: int
    threshold: float
    examples: int
    rows: list[TriageRow]


def triage(wb: Workbench, layer: int, neurons: Sequence[int] | range, threshold: float = 0.6,
           examples: int = 20) -> TriageResult:
    """Scan `neurons` of `layer` (indices, e.g. from `autointerp.ranges.parse_indices`)."""
    if len(neurons) == 0:
        raise InputError("the neuron range is empty")
    target = wb.target
    target.check_layer(layer)
    n_units = target.neurons(layer).n_units
    bad = [n for n in neurons if not 0 <= n < n_units]
    if bad:
        raise InputError(f"neuron {bad[0]} is out of range: layer {layer} has neurons 0..{n_units - 1}")
    cache = wb.layer(layer)
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
        rows.append(TriageRow(index=n, max_activation=round(maxes[n], 5),
                              normalised_activation=round(maxes[n] / top_max, 5), unique_tokens=uniq,
                              relatedness=round(rel, 5), flagged=rel >= threshold))
    return TriageResult(model=target.name, layer=layer, threshold=threshold, examples=examples, rows=rows)


def write_csv(res: TriageResult, path: Path) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["index", "normalised_activation", "max_activation", "unique_tokens", "relatedness", "flagged"])
    for r in res.rows:
        w.writerow([r.index, f"{r.normalised_activation:.5f}", f"{r.max_activation:.5f}",
                    " | ".join(repr(t) for t in r.unique_tokens), f"{r.relatedness:.5f}", int(r.flagged)])
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
    ax.set_xlabel(f"neuron (layer {res.layer})")
    ax.set_ylabel("normalised max activation")
    ax.set_title(f"{res.model} layer {res.layer}: red = relatedness >= {res.threshold}")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
