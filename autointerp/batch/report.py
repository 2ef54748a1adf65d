"""`report`: a layer's stored explanations as the seed paper's table (CSV, Markdown), plots (PNG)
and a browsable HTML index with one page per neuron. Every file is written atomically."""

from __future__ import annotations

import csv
import html
import io
from pathlib import Path

from pydantic import BaseModel

from autointerp.agent import transcript as tr
from autointerp.errors import InputError
from autointerp.fileio import atomic_write_bytes, atomic_write_text, check_writable
from autointerp.records import Explanation, NeuronId
from autointerp.scoring.simulation import is_defined
from autointerp.tools.show import window_html
from autointerp.tools.triage import triage
from autointerp.workbench import Workbench


class ReportRow(BaseModel):
    index: int
    normalised_activation: float
    max_activation: float
    unique_tokens: list[str]
    relatedness: float
    explanation: str
    score: float | None
    explainer: str
    method: str
    confident: bool = False


class ConfidenceGroup(BaseModel):
    """The report's neurons whose chosen explanation is (or is not) confident, and how they score: the mean
    held-out score over those with a defined score (`scored` of `neurons`; None when none has one)."""

    confident: bool
    neurons: int
    scored: int
    mean_score: float | None


def confidence_groups(rows: list[ReportRow]) -> list[ConfidenceGroup]:
    """Confident first, then unconfident; undefined scores (None, NaN) are counted apart, never averaged."""
    out = []
    for flag in (True, False):
        group = [r for r in rows if r.confident is flag]
        scores = [r.score for r in group if is_defined(r.score)]
        out.append(ConfidenceGroup(confident=flag, neurons=len(group), scored=len(scores),
                                   mean_score=sum(scores) / len(scores) if scores else None))
    return out


def _fmt(score: float | None, spec: str = "+.3f") -> str:
    return format(score, spec) if is_defined(score) else ""


def _badge(confident: bool) -> str:
    return ("<span class='badge confident'>confident</span>" if confident else
            "<span class='badge unconfident'>unconfident</span>")


def _best_per_neuron(records: list[Explanation]) -> dict[int, Explanation]:
    best: dict[int, Explanation] = {}
    for r in records:
        i = NeuronId.parse(r.neuron).index
        if i not in best or (r.score if r.score is not None else -2) > (best[i].score if best[i].score is not None else -2):
            best[i] = r
    return best


def write_report(wb: Workbench, layer: int, out: Path, store=None) -> list[ReportRow]:
    """The report of the workbench target's `layer` into `out`: every stored explanation (the best
    scored per neuron) over the layer's cache. The store defaults to the workbench settings' store."""
    from autointerp.store import open_store

    model = wb.model
    store = store or open_store(wb.settings)
    best = _best_per_neuron(store.list(model=model, layer=layer))
    if not best:
        raise InputError(f"nothing stored for layer {layer} of {model}: run `autointerp batch --layers {layer}` first")
    check_writable(out, directory=True)  # before the cache and the triage run
    cache = wb.layer(layer)
    maxes = {n: cache.max_activation(n) for n in range(cache.target.d_mlp)}
    layer_max = max(maxes.values()) or 1.0
    rel = {r.index: r.relatedness for r in triage(wb, layer, sorted(best)).rows}
    rows = [ReportRow(index=i, normalised_activation=round(maxes[i] / layer_max, 5), max_activation=round(maxes[i], 5),
                      unique_tokens=list(dict.fromkeys(r.max_token for r in cache.top(i, 20)))[:8],
                      relatedness=rel[i], explanation=rec.text, score=rec.score, explainer=rec.explainer,
                      method=rec.method, confident=rec.confident) for i, rec in sorted(best.items())]
    _write_tables(rows, out)
    _write_plots(rows, maxes, model, layer, out)
    for rec in best.values():
        _write_neuron_page(rec, cache, out, tr.for_record(wb.settings, rec))
    atomic_write_text(out / "index.html", _index_html(rows, model, layer))
    return rows


def _write_tables(rows: list[ReportRow], out: Path) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["index", "normalised_activation", "unique_tokens", "explanation", "score", "confident", "explainer",
                "relatedness"])
    for r in rows:
        w.writerow([r.index, f"{r.normalised_activation:.4f}", " | ".join(repr(t) for t in r.unique_tokens),
                    r.explanation, _fmt(r.score, ".4f"), str(r.confident).lower(), r.explainer, f"{r.relatedness:.4f}"])
    atomic_write_text(out / "report.csv", buf.getvalue())
    cell = lambda s: s.replace("|", "\\|").replace("\n", " ")  # noqa: E731
    md = ["| index | normalised activation | unique tokens | explanation | score | confident |",
          "|---|---|---|---|---|---|"]
    md += [f"| {r.index} | {r.normalised_activation:.3f} | {cell(', '.join(repr(t) for t in r.unique_tokens[:5]))} | "
           f"{cell(r.explanation)} | {_fmt(r.score)} | {'yes' if r.confident else 'no'} |" for r in rows]
    md += ["", "| explanations | neurons | with a defined score | mean held-out score |", "|---|---|---|---|"]
    md += [f"| {'confident' if g.confident else 'unconfident'} | {g.neurons} | {g.scored} | "
           f"{_fmt(g.mean_score) or '—'} |" for g in confidence_groups(rows)]
    atomic_write_text(out / "report.md", "\n".join(md) + "\n")


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


_STYLE = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px} td{vertical-align:top;padding:2px 6px}"
          " td.win{font-family:ui-monospace,monospace;white-space:pre-wrap} span.max{outline:2px solid #c00}"
          " table{border-collapse:collapse} tr:nth-child(even){background:#fafafa} pre{white-space:pre-wrap}"
          " .badge{font-size:.75em;border-radius:3px;padding:0 .4em;white-space:nowrap}"
          " .badge.confident{background:#e7f3e7;color:#256b25} .badge.unconfident{background:#fdecea;color:#a4281e}"
          " tr.unconfident td.expl, p.unconfident{color:#6b6b6b;font-style:italic}")


def _index_html(rows: list[ReportRow], model: str, layer: int) -> str:
    e = html.escape
    body = "".join(
        f"<tr{'' if r.confident else ' class=unconfident'}><td><a href='neurons/L{layer}.N{r.index}.html'>"
        f"L{layer}.N{r.index}</a></td><td>{r.normalised_activation:.3f}</td>"
        f"<td>{e(', '.join(repr(t) for t in r.unique_tokens[:5]))}</td><td class='expl'>{e(r.explanation)}</td>"
        f"<td>{_fmt(r.score)}</td><td>{_badge(r.confident)}</td><td>{e(r.explainer)}</td></tr>"
        for r in rows)
    groups = "".join(
        f"<tr class='group'><td>{_badge(g.confident)}</td><td>{g.neurons}</td><td>{g.scored}</td>"
        f"<td>{_fmt(g.mean_score) or '—'}</td></tr>" for g in confidence_groups(rows))
    imgs = "".join(f"<img src='{n}' alt='{n}' style='max-width:100%'>" for n in
                   ("scores.png", "max_activation.png", "score_vs_relatedness.png"))
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{e(model)} layer {layer}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{e(model)} layer {layer}</h1>"
            f"<p>{len(rows)} explained neurons. Tables: <a href='report.csv'>CSV</a>, <a href='report.md'>Markdown</a>.</p>"
            f"<table id='confidence'><tr class='group'><th>explanations</th><th>neurons</th>"
            f"<th>with a defined score</th><th>mean held-out score</th></tr>{groups}</table>"
            f"{imgs}<table id='neurons'><tr><th>neuron</th><th>normalised activation</th><th>unique tokens</th>"
            f"<th>explanation</th><th>score</th><th>confident</th><th>explainer</th></tr>{body}</table></body></html>\n")


def _write_neuron_page(rec: Explanation, cache, out: Path, transcript: Path | None) -> None:
    """`transcript`: the record's transcript found by its identity under the data dir (see
    `transcript.for_record`), never the path the record names: records may be imported."""
    e = html.escape
    n = NeuronId.parse(rec.neuron)
    scale = cache.max_activation(n.index) or 1.0
    top = "".join(f"<tr><td>{r.max_activation:.3f}</td><td class='win'>{window_html(r, scale)}</td></tr>"
                  for r in cache.top(n.index, 10))
    ev = rec.evidence
    lists = "".join(f"<h3>{label}</h3><ul>" + "".join(f"<li>{e(x)}</li>" for x in items) + "</ul>"
                    for label, items in (("probes", ev.probes), ("substitutions", ev.substitutions),
                                         ("context", ev.context)) if items)
    transcript_html = "<p>no transcript</p>"
    if transcript is not None:
        try:
            events = tr.load(transcript)
        except InputError as err:
            transcript_html = f"<p>{e(str(err))}</p>"
        else:
            name = f"{rec.neuron}.jsonl"
            atomic_write_bytes(out / "transcripts" / name, transcript.read_bytes())
            lines = "\n".join(tr.render_event(ev_) for ev_ in events)
            transcript_html = f"<p><a href='../transcripts/{name}'>JSONL</a></p><pre>{e(lines)}</pre>"
    s = rec.scores[0] if rec.scores else None
    value = f"{s.value:+.4f}" if s and is_defined(s.value) else "undefined"
    score = (f"{value} ({s.method}, {s.simulator}, {s.n_examples} held-out windows, {s.n_tokens} tokens)"
             if s else "unscored")
    sure = ("" if rec.confident else "<p class='unconfident'>Unconfident: the best guess, whose validation evidence "
            "did not clear the confidence floor.</p>")
    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{e(rec.neuron)}</title>"
            f"<style>{_STYLE}</style></head><body><p><a href='../index.html'>index</a></p>"
            f"<h1>{e(rec.neuron)} <small>{e(rec.model)}</small> {_badge(rec.confident)}</h1>"
            f"<p id='explanation'><b>{e(rec.text)}</b></p>{sure}"
            f"<p>score {e(score)}; {e(rec.method)} by {e(rec.explainer)} ({e(rec.prompt_version)}), {rec.steps} steps, "
            f"{rec.prompt_tokens + rec.completion_tokens} LLM tokens</p>"
            f"<h2>Evidence</h2><p>top tokens: {e(', '.join(f'{t.token!r}×{t.count}' for t in ev.top_tokens))}</p>"
            f"<p>promotes: {e(', '.join(repr(t) for t in ev.promoted_tokens[:10])) or '—'}</p>{lists}"
            f"<h2>Top examples</h2><table id='top'>{top}</table><h2>Transcript</h2>{transcript_html}</body></html>\n")
    atomic_write_text(out / "neurons" / f"{rec.neuron}.html", page)
