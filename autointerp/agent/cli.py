"""`autointerp explain` and `autointerp transcript`: thin over `autointerp.agent`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from autointerp.errors import InputError
from autointerp.records import Explanation

out = Console()
err = Console(stderr=True)


def print_explanation(rec: Explanation, stored: str | None = None) -> None:
    s = rec.scores[0] if rec.scores else None
    out.print(f"[bold]{rec.neuron}[/] of {rec.model} ({rec.method}, explainer {rec.explainer}, {rec.kind}):")
    out.print(f"  [bold green]{escape(rec.text)}[/]", highlight=False)
    if s is not None:
        out.print(f"  held-out score [bold]{s.value:+.4f}[/] ({s.method}, simulator {s.simulator}, {s.n_examples} "
                  f"windows / {s.n_tokens} tokens never shown to the explainer, split {s.split.kind})")
    ev = rec.evidence
    if rec.triggers:
        out.print(escape(f"  triggers: {', '.join(repr(t) for t in rec.triggers)}"), highlight=False)
    out.print(escape("  top tokens: " + ", ".join(f"{t.token!r}×{t.count}" for t in ev.top_tokens[:8])), highlight=False)
    if ev.promoted_tokens:
        out.print(escape("  promotes: " + ", ".join(repr(t) for t in ev.promoted_tokens[:8])), highlight=False)
    for label, items in (("probes", ev.probes), ("substitutions", ev.substitutions), ("context", ev.context)):
        for line in items[:4]:
            out.print(escape(f"  {label}: {line}"), highlight=False)
    cost = "unknown cost" if rec.cost_usd is None else f"${rec.cost_usd:.4f}"
    out.print(f"  {rec.steps} steps, LLM tokens {rec.prompt_tokens:,} prompt + {rec.completion_tokens:,} completion, "
              f"{cost}; prompt {rec.prompt_version}")
    out.print(escape(f"  transcript {rec.transcript}" + (f"; stored as {stored}" if stored else "")), highlight=False)


def register(app: typer.Typer) -> None:
    @app.command()
    def explain(
        neuron: Annotated[str, typer.Argument(help="neuron id: L6.N74, 6.74 or 6/74")],
        model: Annotated[Optional[str], typer.Option("--model", "-m", help="target model")] = None,
        llm: Annotated[Optional[str], typer.Option("--llm", help="local | openai:<m> | openai-compatible:<m>@<url>")] = None,
        max_steps: Annotated[int, typer.Option("--max-steps", help="agent steps at most")] = 8,
        target_score: Annotated[float, typer.Option("--target-score", help="stop once validation reaches it")] = 0.9,
        max_tokens: Annotated[int, typer.Option("--max-tokens", help="explainer LLM token budget")] = 60_000,
        one_shot: Annotated[bool, typer.Option("--one-shot", help="OpenAI-style baseline: top examples once, no tools")] = False,
        heuristic: Annotated[bool, typer.Option("--heuristic", help="the seed paper's top-unique-tokens explanation")] = False,
        simulator: Annotated[str, typer.Option("--simulator", help="embedding | lexical | llm | llm-logprob")] = "embedding",
        store: Annotated[bool, typer.Option("--store/--no-store", help="save the record in the store")] = True,
        json_: Annotated[bool, typer.Option("--json", help="print the record as JSON")] = False,
    ) -> None:
        """Explain a neuron: an LLM agent hypothesises, tests with the real model, scores and refines."""
        from autointerp.agent import AgentConfig
        from autointerp.agent import explain as run_explain
        from autointerp.store import open_store

        if one_shot and heuristic:
            raise InputError("choose one of --one-shot and --heuristic")
        if simulator not in ("embedding", "lexical", "llm", "llm-logprob"):
            raise InputError(f"unknown --simulator {simulator!r}: embedding, lexical, llm or llm-logprob")
        try:
            config = AgentConfig(max_steps=max_steps, target_score=target_score, max_tokens=max_tokens)
        except ValueError as e:
            raise InputError(f"bad agent limits: {e.errors()[0]['loc'][0]} {e.errors()[0]['msg']}") from None
        method = "one-shot" if one_shot else "heuristic" if heuristic else "agent"
        db = open_store() if store else None
        rec = run_explain(neuron, model, llm, method, config, simulator, store=db)  # type: ignore[arg-type]
        stored = db.add(rec) if db is not None else None
        if json_:
            print(rec.model_dump_json(indent=2))
        else:
            print_explanation(rec, stored)

    @app.command()
    def transcript(
        neuron: Annotated[str, typer.Argument(help="neuron id")],
        model: Annotated[Optional[str], typer.Option("--model", "-m", help="target model")] = None,
        path: Annotated[Optional[Path], typer.Option("--path", help="a transcript file instead of the latest")] = None,
        json_: Annotated[bool, typer.Option("--json", help="the raw JSONL events")] = False,
    ) -> None:
        """Show the latest explain transcript of a neuron: every LLM message, tool call, result and score."""
        from autointerp.agent import transcript as tr
        from autointerp.config import get_settings
        from autointerp.records import NeuronId

        settings = get_settings()
        if path is None:
            path = tr.latest(settings, model or settings.model, NeuronId.parse(neuron))
        if not path.exists():
            raise InputError(f"no transcript at {path}")
        for e in tr.load(path):
            print(e.model_dump_json() if json_ else tr.render_event(e))
        if not json_:
            err.print(f"[dim]{path}[/]")
