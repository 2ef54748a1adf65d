"""Pages (HTML) and the JSON API behind them."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from typing import get_args

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field, field_validator

from autointerp.agent import AgentConfig, explain, get_explainer
from autointerp.agent import transcript as tr
from autointerp.llm import check_llm
from autointerp.present.best import best_per_neuron
from autointerp.present.figures import max_plot_svg
from autointerp.ranges import check_within, parse_indices
from autointerp.records import (
    DICTIONARY_NAME,
    RARE_WINDOWS,
    DictionaryInfo,
    Explanation,
    UnitId,
    UnitKind,
)
from autointerp.web import views
from autointerp.web.pages import FastJSON, render
from autointerp.web.runs import Busy
from autointerp.web.state import BadRequest, NotFound, WebState
from autointerp.web.worker import Full

router = APIRouter()

TOP_SHOWN, PER_BIN, RANDOM_SHOWN = 20, 3, 10


def web(request: Request) -> WebState:
    return request.app.state.web


def _model(state: WebState, model: str | None) -> str:
    return model.strip() if model and model.strip() else state.model


# ---- pages ----


@router.get("/")
def index(request: Request):
    state = web(request)
    return render(request, "index.html", title="autointerp", models=state.overview(), count=state.store.count())


def _unit_rows(records: list[Explanation], summary: views.LayerSummary | None, triaged: dict[int, dict],
               name: Callable[[int], str]) -> list[dict]:
    """One row per unit of a source (a layer's neurons, a dictionary's latents): its cache figures
    where cached, else the units the store explains; `name` gives each unit's id."""
    best = best_per_neuron(records)
    indices = range(len(summary.maxes)) if summary is not None else sorted(best)
    layer_max = max(summary.maxes, default=0.0) if summary is not None else 0.0
    rows = []
    for i in indices:
        rec, n = best.get(i, (None, 0))
        t = triaged.get(i)
        row = {
            "index": i, "neuron": name(i),
            "max": summary.maxes[i] if summary else None,
            "normalised": (summary.maxes[i] / layer_max if layer_max > 0 else 0.0) if summary else None,
            "tokens": summary.top_tokens[i] if summary else (
                [t.token for t in rec.evidence.top_tokens[:5]] if rec else []),
            "relatedness": t["relatedness"] if t else None, "flagged": bool(t and t.get("flagged")),
            "explanation": rec.text if rec else None, "score": rec.score if rec else None,
            "explainer": rec.explainer if rec else None, "method": rec.method if rec else None,
            "n_explanations": n, "confident": rec.confident if rec else None,
        }
        if summary is not None and summary.firing is not None:
            f = summary.firing[i]
            row.update(frequency=f.frequency, tokens_firing=f.tokens_firing, windows_firing=f.windows_firing,
                       activity=f.activity)
        rows.append(row)
    return rows


def _layer_rows(state: WebState, model: str, layer: int) -> tuple[list[dict], views.LayerSummary | None]:
    records = state.store.list(model=model, layer=layer, kind="neuron")
    summary = state.summary(layer) if model == state.model else None
    triaged = state.triage(layer) if model == state.model else {}
    return _unit_rows(records, summary, triaged, lambda i: f"L{layer}.N{i}"), summary


def _dictionary_rows(state: WebState, name: str) -> tuple[DictionaryInfo, list[dict], views.LayerSummary | None]:
    """The served model's dictionary `name`: its latents' rows, as the layer's neurons' (never built here)."""
    info, source = state.dictionary(name)
    records = state.store.list(model=state.model, layer=info.layer, dictionary=name)
    summary = state.summary(source)
    triaged = state.triage(info.layer, name)
    return info, _unit_rows(records, summary, triaged, lambda i: f"{info.source_id}/{i}"), summary


@router.get("/layers/{layer}")
def layer_page(request: Request, layer: str, model: str | None = None):
    state = web(request)
    model, n = state.layer_number(layer, _model(state, model))
    rows, summary = _layer_rows(state, model, n)
    note = None
    if model != state.model:
        note = f"this server runs {state.model}: only stored explanations of {model} are shown"
    elif summary is None:
        if not rows:
            raise NotFound(state.no_cache(n) + "; nothing is stored for it either")
        note = state.no_cache(n)
    plot = max_plot_svg(summary.maxes, {r["index"] for r in rows if r["explanation"]}) if summary else ""
    return render(request, "layer.html", title=f"{model} layer {n}", model=model, layer=n, rows=rows, note=note,
                  plot=plot, triaged=any(r["relatedness"] is not None for r in rows),
                  explained=sum(1 for r in rows if r["explanation"]), cached=summary is not None,
                  model_q="" if model == state.model else f"?model={model}")


@router.get("/dictionaries/{name}")
def dictionary_page(request: Request, name: str):
    state = web(request)
    info, rows, summary = _dictionary_rows(state, name)
    plot = max_plot_svg(summary.maxes, {r["index"] for r in rows if r["explanation"]}) if summary else ""
    activity = Counter(r["activity"] for r in rows if "activity" in r)
    return render(request, "dictionary.html", title=f"{state.model} {name}", model=state.model, info=info,
                  rows=rows, plot=plot, cached=summary is not None,
                  triaged=any(r["relatedness"] is not None for r in rows),
                  note=None if summary is not None else state.no_dictionary_cache(name),
                  explained=sum(1 for r in rows if r["explanation"]), activity=activity, rare_windows=RARE_WINDOWS)


def _explanation_views(state: WebState, model: str, nid: UnitId) -> tuple[list[dict], list[Explanation]]:
    current = state.store.get(model, nid)
    history = state.store.history(model, nid)
    shown = {(e.model_dump_json()) for e in current}
    older = [e for e in reversed(history) if e.model_dump_json() not in shown]
    out = []
    for rec in reversed(current):  # newest first
        path = tr.for_record(state.settings, rec)  # never the path written inside the record
        out.append({"rec": rec,
                    "transcript": views.transcript_view(path) if path else None,
                    "transcript_name": path.name if path else None,
                    "versions": [e for e in older if e.explainer == rec.explainer
                                 and e.prompt_version == rec.prompt_version]})
    return out, older


@router.get("/neurons/{neuron:path}")
def neuron_page(request: Request, neuron: str, model: str | None = None, top: int = Query(TOP_SHOWN, ge=1, le=1000)):
    state = web(request)
    model, nid = state.neuron(neuron, _model(state, model))
    served = model == state.model
    cache = state.cache(nid) if served else None
    ctx: dict = {"stats": None, "top": [], "n_top": 0, "quantiles": [], "random": [], "scale": 0.0,
                 "unique": [], "firing": None, "fvu": None}
    if cache is not None:
        n = nid.index
        stats = cache.stats(n)
        top_recs = cache.top(n, top)
        scale = cache.max_activation(n) or max(abs(stats.min), stats.max, 1e-9)
        n_top = int((cache.arrays["top_win"][n] >= 0).sum())
        uniq = Counter(r.max_token for r in top_recs)
        ctx = {
            "stats": stats, "scale": scale, "n_top": n_top, "top": top_recs,
            "quantiles": [(q, q.examples) for q in reversed(cache.quantiles(n, PER_BIN))],
            "random": cache.random(n, RANDOM_SHOWN),
            "unique": uniq.most_common(), "firing": None, "fvu": None,
        }
        if nid.dictionary is not None:  # a latent: how often it fires, and its dictionary's FVU
            ctx.update(firing=cache.firing(n), fvu=getattr(getattr(cache.source, "info", None), "fvu", None))
    explanations, older = _explanation_views(state, model, nid)
    run = state.runs.active(model, str(nid)) if served else None
    n_units = state.wb.target.units(nid).n_units if served else None
    return render(request, "neuron.html", title=f"{nid} · {model}", model=model, nid=nid, is_served=served,
                  cached=cache is not None, no_cache=None if cache is not None or not served else
                  state.no_cache(nid.layer), explanations=explanations, history=older, run=run,
                  prev=str(nid.sibling(nid.index - 1)) if nid.index > 0 else None,
                  next=str(nid.sibling(nid.index + 1)) if n_units is None or nid.index + 1 < n_units else None,
                  model_q="" if served else f"?model={model}", top_limit=top, llm_default=state.settings.llm,
                  **ctx)


@router.get("/search")
def search_page(request: Request, q: str = "", model: str = "", layer: str = "", min_score: str = "",
                k: int = Query(20, ge=1, le=200), confident: str = "", kind: str = "", dictionary: str = ""):
    state = web(request)
    hits, error = [], None
    if q.strip():
        try:
            hits = _search(state, q, model, layer, min_score, k, confident, kind, dictionary)
        except BadRequest as e:
            error = e.detail
    models = sorted({m.name for m in state.overview()})
    return render(request, "search.html", title=f"search: {q}" if q else "search", q=q, model=model, layer=layer,
                  min_score=min_score, k=k, confident=confident, kind=kind, dictionary=dictionary, hits=hits,
                  error=error, models=models)


def _search(state: WebState, q: str, model: str, layer: str, min_score: str, k: int, confident: str = "",
            kind: str = "", dictionary: str = ""):
    if kind.strip() not in ("", *get_args(UnitKind)):
        raise BadRequest(f"kind must be neuron, latent or empty (any), got {kind!r}")
    if dictionary.strip() and not DICTIONARY_NAME.match(dictionary.strip()):
        raise BadRequest(f"malformed dictionary name {dictionary!r}: lowercase letters, digits and dashes")
    flags = {"": None, "true": True, "false": False}
    if confident.strip().lower() not in flags:
        raise BadRequest(f"confident must be true, false or empty (any), got {confident!r}")
    flag = flags[confident.strip().lower()]
    try:
        layer_n = int(layer) if str(layer).strip() else None
        score = float(min_score) if str(min_score).strip() else None
    except ValueError:
        raise BadRequest(f"layer must be a number and min score a number, got {layer!r} and {min_score!r}") from None
    if not q.strip():
        raise BadRequest("empty search query")
    return state.store.search(q, model=model.strip() or None, layer=layer_n, min_score=score, k=k,
                              confident=flag, kind=kind.strip() or None, dictionary=dictionary.strip() or None)


# ---- the JSON API ----
# Large replies are JSONResponses made in the request's thread: a plain dict returned would be
# encoded (jsonable_encoder, then json.dumps) on the event loop, where every other request waits.


@router.get("/api/models")
def api_models(request: Request):
    out = []
    for m in web(request).overview():
        out.append({"model": m.name, "served": m.served,
                    "layers": [vars(li) for li in m.sorted_layers],
                    "dictionaries": [d.as_json() for d in m.dictionaries]})
    return out


@router.get("/api/layers/{layer}")
def api_layer(request: Request, layer: str, model: str | None = None):
    state = web(request)
    model, n = state.layer_number(layer, _model(state, model))
    rows, summary = _layer_rows(state, model, n)
    return FastJSON({"model": model, "layer": n, "cached": summary is not None, "rows": rows})


@router.get("/api/dictionaries/{name}")
def api_dictionary(request: Request, name: str):
    state = web(request)
    info, rows, summary = _dictionary_rows(state, name)
    return FastJSON({"model": state.model, "dictionary": info.model_dump(mode="json"), "cached": summary is not None,
                     "rows": rows})


class TriageRequest(BaseModel):
    neurons: str = "0:100"
    threshold: float = 0.6


@router.post("/api/layers/{layer}/triage")
def api_triage(request: Request, layer: str, body: TriageRequest):
    state = web(request)
    _, n = state.layer_number(layer)
    picked = check_within(parse_indices(body.neurons, "neurons"), state.wb.target.neurons(n).n_units, "neuron")
    return state.run_triage(n, picked, body.threshold)


@router.post("/api/dictionaries/{name}/triage")
def api_dictionary_triage(request: Request, name: str, body: TriageRequest):
    state = web(request)
    info, source = state.dictionary(name)
    picked = check_within(parse_indices(body.neurons, "neurons"), source.n_units, "latent")
    return state.run_triage(info.layer, picked, body.threshold, source)


@router.get("/api/neurons/{neuron:path}")
def api_neuron(request: Request, neuron: str, model: str | None = None):
    """The `show --json` object plus the stored explanations (current, and every version)."""
    state = web(request)
    model, nid = state.neuron(neuron, _model(state, model))
    if model != state.model:
        raise NotFound(f"this server runs {state.model}; the cache of {model} needs `autointerp serve --model {model}`")
    examples = state.need_cache(nid).unit(nid)
    out = examples.model_dump(mode="json")
    out["explanations"] = [e.model_dump(mode="json") for e in state.store.get(model, nid)]
    out["history"] = [e.model_dump(mode="json") for e in state.store.history(model, nid)]
    return FastJSON(out)


class ProbeRequest(BaseModel):
    neuron: str
    texts: list[str] = Field(min_length=1, max_length=64)
    model: str | None = None


async def _model_work(submit: Callable[[], Future], shared: bool = False):
    """Await work queued on the model's thread without holding a request thread; a full queue is a
    429 with Retry-After. `shared`: others wait on the same Future, so a client leaving never cancels it."""
    try:
        future = asyncio.wrap_future(submit())
    except Full as e:
        raise HTTPException(429, str(e), headers={"Retry-After": str(e.retry_after)}) from None
    return await (asyncio.shield(future) if shared else future)


@router.post("/api/probe")
async def api_probe(request: Request, body: ProbeRequest):
    """The same JSON as `autointerp probe --json`: ProbeResult.model_dump(). Probes of one layer
    waiting together run as one batched forward on the model's thread."""
    state = web(request)
    if body.model and body.model != state.model:
        raise BadRequest(f"this server runs {state.model}, not {body.model}")
    _, nid = await run_in_threadpool(state.neuron, body.neuron)
    result = await _model_work(lambda: state.worker.probe(nid, body.texts))
    return await run_in_threadpool(lambda: FastJSON(result.model_dump(mode="json")))  # off the event loop


@router.post("/api/neurons/{neuron:path}/effects")
async def api_effects(request: Request, neuron: str):
    state = web(request)
    _, nid = await run_in_threadpool(state.neuron, neuron)
    return await _model_work(lambda: state.effects(nid), shared=True)


@router.get("/api/search")
def api_search(request: Request, q: str = "", k: int = Query(10, ge=1, le=200), model: str = "", layer: str = "",
               min_score: str = "", confident: str = "", kind: str = "", dictionary: str = ""):
    hits = _search(web(request), q, model, layer, min_score, k, confident, kind, dictionary)
    return FastJSON([h.model_dump(mode="json") for h in hits])


class ExplainRequest(BaseModel):
    method: str = Field("agent", description="a registered explainer")
    llm: str | None = None
    max_steps: int = Field(8, ge=1, le=100)
    target_score: float = Field(0.9, le=1.0)

    @field_validator("method")
    @classmethod
    def _registered(cls, name: str) -> str:
        get_explainer(name)  # an InputError is a ValueError: a 400 naming the registered explainers
        return name


@router.post("/api/neurons/{neuron:path}/explain", status_code=202)
def api_explain(request: Request, neuron: str, body: ExplainRequest):
    """Start the explainer in the background; 409 (with the running run) when this neuron has one going."""
    state = web(request)
    model, nid = state.neuron(neuron)
    state.need_cache(nid.layer)
    spec = ((body.llm or "").strip() or state.settings.llm) if get_explainer(body.method).needs_llm else None
    if spec is not None:
        check_llm(spec, state.settings)  # a malformed spec or a missing key: 400 now, not a failed run
    config = AgentConfig(max_steps=body.max_steps, target_score=body.target_score)

    def job(on_event) -> tuple[dict, str | None]:
        llm = state.llm(spec) if spec is not None else None
        rec = explain(state.wb, nid, llm, body.method, config, store=state.store, on_event=on_event)
        stored = state.store.add(rec)
        state.changed()
        return rec.model_dump(mode="json"), stored

    try:
        run = state.runs.start(model, str(nid), body.method, spec, job)
    except Busy as e:
        return JSONResponse({**e.run.info(), "error": str(e)}, status_code=409)
    return run.info()


@router.get("/api/runs/{run_id}")
def api_run(request: Request, run_id: str):
    run = web(request).runs.get(run_id)
    if run is None:
        raise NotFound(f"no run {run_id!r}")
    return run.info()


@router.get("/api/runs/{run_id}/events")
async def api_run_events(request: Request, run_id: str):
    """Server-sent events: `step` per transcript event as it happens (`id` is its index; a reconnect
    with Last-Event-ID resumes after it), then one `done` or `failed` with the run (record included)."""
    run = web(request).runs.get(run_id)
    if run is None:
        raise NotFound(f"no run {run_id!r}")
    try:
        start = int(request.headers.get("last-event-id", "-1")) + 1
    except ValueError:
        start = 0

    async def stream():
        i, quiet = max(start, 0), time.monotonic()
        yield "retry: 1000\n\n"
        while True:
            finished = run.status != "running"  # read first: every event is appended before it changes
            while i < len(run.events):
                yield f"id: {i}\nevent: step\ndata: {json.dumps(run.events[i])}\n\n"
                i += 1
                quiet = time.monotonic()
            if finished:
                yield f"event: {run.status}\ndata: {json.dumps(run.info())}\n\n"
                return
            if await request.is_disconnected():
                return
            if time.monotonic() - quiet > 15:
                yield ": keep-alive\n\n"
                quiet = time.monotonic()
            await asyncio.sleep(0.1)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

