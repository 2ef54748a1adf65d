"""`report`: a layer's stored explanations (or a dictionary's) as the seed paper's table (CSV,
Markdown), plots (PNG) and a browsable HTML index with one page per unit, and for a dictionary how
many latents batches skipped as dead and as rare. Every file is written atomically."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from pydantic import BaseModel, Field

from autointerp.agent import transcript as tr
from autointerp.batch.failures import Skips
from autointerp.errors import InputError
from autointerp.fileio import atomic_write_bytes, atomic_write_text, check_writable
from autointerp.paths import slug
from autointerp.present import templates
from autointerp.present.best import best_per_neuron
from autointerp.present.confidence import confidence_groups
from autointerp.present.markdown import table
from autointerp.present.scores import headline
from autointerp.records import Explanation, UnitId
from autointerp.scoring.simulation import is_defined
from autointerp.tools.triage import source_of, triage
from autointerp.workbench import Workbench


class ReportRow(BaseModel):
    index: int
    unit: str = ""
    page: str = Field(default="", description="its page under neurons/: the unit id as one safe file name")
    normalised_activation: float
    max_activation: float
    unique_tokens: list[str]
    relatedness: float
    explanation: str
    score: float | None
    explainer: str
    method: str
    confident: bool = False


def _fmt(score: float | None, spec: str = "+.3f") -> str:
    return format(score, spec) if is_defined(score) else ""


class Skipped(BaseModel):
    """The source's latents batches skipped (`batch.failures.Skips`), by reason."""

    dead: int = 0
    rare: int = 0


def skipped_of(wb: Workbench, source_id: str) -> Skipped:
    """How many of the source's units batches recorded as dead and as rare."""
    found = [s for s in Skips(wb.settings, wb.model).all().values() if UnitId.parse(s.unit).source_id == source_id]
    return Skipped(**{r: sum(s.reason == r for s in found) for r in ("dead", "rare")})


def write_report(wb: Workbench, layer: int | None, out: Path, store=None,
                 dictionary: str | None = None) -> list[ReportRow]:
    """The report of the workbench target's `layer` into `out` (or, with `dictionary`, of its
    latents): every stored explanation (the best per unit, by the store's rule: `present.best`) over
    the source's cache. The store defaults to the workbench settings' store."""
    from autointerp.store import open_store

    model = wb.model
    source = source_of(wb, layer, dictionary)
    layer = source.layer
    store = store or open_store(wb.settings)
    stored = store.list(model=model, layer=layer, kind="neuron" if dictionary is None else None, dictionary=dictionary)
    best = {i: rec for i, (rec, _) in best_per_neuron(stored).items()}
    if not best:
        again = f"--layers {layer}" if dictionary is None else f"--dictionary {dictionary}"
        raise InputError(f"nothing stored for {_what(layer, dictionary)} of {model}: "
                         f"run `autointerp batch {again}` first")
    check_writable(out, directory=True)  # before the cache and the triage run
    cache = wb.cache(source)
    maxes = {n: cache.max_activation(n) for n in range(cache.source.n_units)}
    layer_max = max(maxes.values()) or 1.0
    rel = {r.index: r.relatedness for r in triage(wb, layer, sorted(best), dictionary=dictionary).rows}
    rows = [ReportRow(index=i, unit=rec.neuron, page=f"{slug(rec.neuron)}.html",
                      normalised_activation=round(maxes[i] / layer_max, 5), max_activation=round(maxes[i], 5),
                      unique_tokens=list(dict.fromkeys(r.max_token for r in cache.top(i, 20)))[:8],
                      relatedness=rel[i], explanation=rec.text, score=rec.score, explainer=rec.explainer,
                      method=rec.method, confident=rec.confident) for i, rec in sorted(best.items())]
    skipped = skipped_of(wb, source.id) if dictionary is not None else None
    _write_tables(rows, out, skipped)
    _write_plots(rows, maxes, model, layer, out)
    for rec in best.values():
        _write_neuron_page(rec, cache, out, tr.for_record(wb.settings, rec))
    atomic_write_text(out / "index.html", _index_html(rows, model, layer, skipped, dictionary))
    return rows


def _what(layer: int, dictionary: str | None) -> str:
    return f"layer {layer}" if dictionary is None else f"dictionary {layer}-{dictionary}"


def _write_tables(rows: list[ReportRow], out: Path, skipped: Skipped | None = None) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["index", "normalised_activation", "unique_tokens", "explanation", "score", "confident", "explainer",
                "relatedness"])
    for r in rows:
        w.writerow([r.index, f"{r.normalised_activation:.4f}", " | ".join(repr(t) for t in r.unique_tokens),
                    r.explanation, _fmt(r.score, ".4f"), str(r.confident).lower(), r.explainer, f"{r.relatedness:.4f}"])
    atomic_write_text(out / "report.csv", buf.getvalue())
    md = table(["index", "normalised activation", "unique tokens", "explanation", "score", "confident"],
               [[str(r.index), f"{r.normalised_activation:.3f}", ", ".join(repr(t) for t in r.unique_tokens[:5]),
                 r.explanation, _fmt(r.score), "yes" if r.confident else "no"] for r in rows])
    md += "\n" + table(["explanations", "neurons", "with a defined score", "mean held-out score"],
                       [["confident" if g.confident else "unconfident", str(g.neurons), str(g.scored),
                         _fmt(g.mean_score) or "—"] for g in confidence_groups(rows)])
    if skipped is not None:
        md += "\n" + table(["skipped by batch", "latents"], [["dead (never fire)", str(skipped.dead)],
                                                             ["rare (too few firing windows)", str(skipped.rare)]])
    atomic_write_text(out / "report.md", md)


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def _write_plots(rows: list[ReportRow], maxes: dict[int, float], model: str, layer: int, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = [r.score for r in rows if is_defined(r.score)]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(scores, bins=20, range=(-1, 1), color="#1f77b4")
    ax.set_xlabel("held-out simulation score")
    ax.set_ylabel("neurons")
    ax.set_title(f"{model} layer {layer}: {len(scores)} explanations")
    atomic_write_bytes(out / "scores.png", _png(fig))
    fig, ax = plt.subplots(figsize=(10, 3.5))
    explained = {r.index for r in rows}
    idx = sorted(maxes)
    ax.bar(idx, [maxes[i] for i in idx], width=1.0, color=["#d62728" if i in explained else "#9ecae1" for i in idx])
    ax.set_xlabel(f"neuron (layer {layer}); red = explained")
    ax.set_ylabel("max activation")
    atomic_write_bytes(out / "max_activation.png", _png(fig))
    fig, ax = plt.subplots(figsize=(6, 4))
    pts = [(r.relatedness, r.score) for r in rows if is_defined(r.score)]
    ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=12)
    ax.set_xlabel("relatedness of top examples (seed triage)")
    ax.set_ylabel("held-out simulation score")
    atomic_write_bytes(out / "score_vs_relatedness.png", _png(fig))


IMAGES = ("scores.png", "max_activation.png", "score_vs_relatedness.png")


def _index_html(rows: list[ReportRow], model: str, layer: int, skipped: Skipped | None = None,
                dictionary: str | None = None) -> str:
    what = _what(layer, dictionary)
    return templates.render("report_index.html", title=f"{model} {what}", model=model, what=what, rows=rows,
                            groups=confidence_groups(rows), images=IMAGES, skipped=skipped)


def _write_neuron_page(rec: Explanation, cache, out: Path, transcript: Path | None) -> None:
    """`transcript`: the record's transcript found by its identity under the data dir (see
    `transcript.for_record`), never the path the record names: records may be imported."""
    n = UnitId.parse(rec.neuron)
    lines, error, name = None, None, f"{slug(rec.neuron)}.jsonl"
    if transcript is not None:
        try:
            events = tr.load(transcript)
        except InputError as err:
            error = str(err)
        else:
            atomic_write_bytes(out / "transcripts" / name, transcript.read_bytes())
            lines = "\n".join(tr.render_event(ev_) for ev_ in events)
    page = templates.render("report_neuron.html", title=rec.neuron, e=rec,
                            score=headline(rec.scores[0] if rec.scores else None), top=cache.top(n.index, 10),
                            scale=cache.max_activation(n.index) or 1.0,
                            transcript=lines, transcript_error=error, transcript_name=name)
    atomic_write_text(out / "neurons" / f"{slug(rec.neuron)}.html", page)
