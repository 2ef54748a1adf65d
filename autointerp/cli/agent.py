"""`autointerp explain | transcript`: the explain agent and its transcripts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from autointerp.cli.options import (
    CorpusOpt,
    ExplainerOpt,
    HeuristicOpt,
    LlmOpt,
    MaxStepsOpt,
    ModelOpt,
    NeuronArg,
    OneShotOpt,
    Simulator,
    SimulatorOpt,
    explain_method,
    needs_llm,
    neuron_id,
    precheck,
    workbench,
)
from autointerp.cli.output import err, lit, note, out
from autointerp.errors import InputError
from autointerp.present.scores import value_text

if TYPE_CHECKING:
    from autointerp.records import Explanation


def print_explanation(rec: Explanation, stored: str | None = None) -> None:
    s = rec.scores[0] if rec.scores else None
    out.print(f"[bold]{lit(rec.neuron)}[/] " + lit(f"of {rec.model} ({rec.method}, explainer {rec.explainer}, "
                                                   f"{rec.kind}):"))
    out.print(f"  [bold green]{lit(rec.text)}[/]", highlight=False)
    if s is not None:
        out.print(f"  held-out score [bold]{value_text(s.value)}[/] " + lit(
            f"({s.method}, rule {s.rule}, simulator {s.simulator}, {s.n_examples} windows / {s.n_tokens} tokens never shown "
            f"to the explainer, split {s.split.kind})"))
    ev = rec.evidence
    lines = []
    if rec.triggers:
        lines.append(f"  triggers: {', '.join(repr(t) for t in rec.triggers)}")
    lines.append("  top tokens: " + ", ".join(f"{t.token!r}×{t.count}" for t in ev.top_tokens[:8]))
    if ev.promoted_tokens:
        lines.append("  promotes: " + ", ".join(repr(t) for t in ev.promoted_tokens[:8]))
    for label, items in (("probes", ev.probes), ("substitutions", ev.substitutions), ("context", ev.context)):
        lines += [f"  {label}: {line}" for line in items[:4]]
    cost = "unknown cost" if rec.cost_usd is None else f"${rec.cost_usd:.4f}"
    lines.append(f"  {rec.steps} steps, LLM tokens {rec.prompt_tokens:,} prompt + {rec.completion_tokens:,} "
                 f"completion, {cost}; prompt {rec.prompt_version}")
    lines.append(f"  transcript {rec.transcript}" + (f"; stored as {stored}" if stored else ""))
    for line in lines:
        out.print(line, markup=False, highlight=False)


def explain(
    neuron: NeuronArg,
    model: ModelOpt = None,
    corpus: CorpusOpt = None,
    llm: LlmOpt = None,
    max_steps: MaxStepsOpt = 8,
    target_score: Annotated[float, typer.Option("--target-score", help="stop once validation reaches it")] = 0.9,
    max_tokens: Annotated[int, typer.Option("--max-tokens", help="explainer LLM token budget")] = 60_000,
    one_shot: OneShotOpt = False,
    heuristic: HeuristicOpt = False,
    explainer: ExplainerOpt = None,
    simulator: SimulatorOpt = Simulator.embedding,
    store: Annotated[bool, typer.Option("--store/--no-store", help="save the record in the store")] = True,
    json_: Annotated[bool, typer.Option("--json", help="print the record as JSON")] = False,
) -> None:
    """Explain a neuron: an LLM agent hypothesises, tests with the real model, scores and refines."""
    precheck(model, neuron_id(neuron))  # malformed or out of range: one error before anything loads
    method = explain_method(one_shot, heuristic, explainer)
    for name, value, low, high in (("max_steps", max_steps, 1, 100), ("max_tokens", max_tokens, 1, None)):
        if value < low or (high is not None and value > high):  # AgentConfig's bounds, checked without loading it
            bounds = f"between {low} and {high}" if high is not None else f">= {low}"
            raise InputError(f"bad agent limits: {name} must be {bounds}, got {value}")
    from autointerp.progress import ExplainStatus, live

    status = ExplainStatus(str(neuron_id(neuron)), phase="loading")  # on stderr at once, before torch loads
    with live(status, None if json_ else err) as on_event:
        rec, stored = _explain(status, on_event, neuron, model, corpus, llm, method, max_steps, target_score,
                               max_tokens, simulator, store)
    if json_:
        print(rec.model_dump_json(indent=2))
    else:
        print_explanation(rec, stored)


def _explain(status, on_event, neuron, model, corpus, llm, method, max_steps, target_score, max_tokens, simulator,
             store) -> tuple[Explanation, str | None]:
    from pydantic import ValidationError

    from autointerp.agent import AgentConfig
    from autointerp.agent import explain as run
    from autointerp.llm import Usage, make_llm
    from autointerp.store import open_store

    try:
        config = AgentConfig(max_steps=max_steps, target_score=target_score, max_tokens=max_tokens)
    except ValidationError as e:
        first = e.errors()[0]
        raise InputError(f"bad agent limits: {first['loc'][0]} {first['msg']}") from None
    status.phase = "loading the explainer LLM"
    chat = make_llm(llm) if needs_llm(method) else None  # a bad --llm fails here, before the model loads
    status.phase = "loading the model"
    wb = workbench(model, corpus)
    db = open_store(wb.settings) if store else None
    status.usage = Usage()
    rec = run(wb, neuron, chat, method, config, simulator.value, store=db, usage=status.usage,
              on_event=on_event)
    return rec, db.add(rec) if db is not None else None


def transcript(
    neuron: NeuronArg,
    model: ModelOpt = None,
    path: Annotated[Optional[Path], typer.Option("--path", help="a transcript file under $AUTOINTERP_HOME/transcripts "
                                                 "instead of the latest")] = None,
    json_: Annotated[bool, typer.Option("--json", help="the raw JSONL events")] = False,
) -> None:
    """Show the latest explain transcript of a neuron: every LLM message, tool call, result and score."""
    from autointerp.config import get_settings

    nid = neuron_id(neuron)
    settings = get_settings()
    from autointerp.agent import transcript as tr
    if path is None:  # no model load: transcripts are filed under the model's name
        path = tr.latest(settings, model or settings.model, nid)
    else:  # only files autointerp wrote: never a path outside the transcripts folder
        found = tr.inside(settings, path)
        if found is None:
            raise InputError(f"--path {path} is not a transcript file under {tr.root(settings)}")
        path = found
    for e in tr.load(path):
        print(e.model_dump_json() if json_ else tr.render_event(e))
    if not json_:
        note(str(path))


def register(app: typer.Typer) -> None:
    app.command()(explain)
    app.command()(transcript)
