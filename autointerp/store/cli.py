"""`autointerp search | list | export | import`: the store's commands, registered on the main app."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from autointerp.errors import InputError

out = Console()
err = Console(stderr=True)

ModelOpt = Annotated[Optional[str], typer.Option("--model", "-m", help="only this target model")]
LayerOpt = Annotated[Optional[int], typer.Option("--layer", "-l", help="only this layer")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON list")]
UrlOpt = Annotated[Optional[str], typer.Option("--chroma-url", help="a Chroma server, e.g. http://localhost:8000 "
                                               "(default: AUTOINTERP_CHROMA_URL, else the local store)")]


def _store(url: str | None):
    from autointerp.store import open_store

    return open_store(url=url)


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:+.3f}"


def search(
    query: Annotated[str, typer.Argument(help="what the neurons should be about, in words")],
    model: ModelOpt = None,
    layer: LayerOpt = None,
    min_score: Annotated[Optional[float], typer.Option("--min-score", help="only explanations scoring at least this")] = None,
    k: Annotated[int, typer.Option("-k", help="how many hits")] = 10,
    json_: JsonOpt = False,
    chroma_url: UrlOpt = None,
) -> None:
    """Stored explanations nearest in meaning to a query (MiniLM cosine), best first."""
    from rich.table import Table

    hits = _store(chroma_url).search(query, model=model, layer=layer, min_score=min_score, k=k)
    if json_:
        sys.stdout.write(json.dumps([h.model_dump(mode="json") for h in hits]) + "\n")
        return
    table = Table(title=f"{len(hits)} explanations nearest to {query!r}")
    for col in ("#", "neuron", "model", "explanation", "score", "similarity", "explainer"):
        table.add_column(col)
    for i, h in enumerate(hits, 1):
        e = h.explanation
        table.add_row(str(i), e.neuron, e.model, e.text, _score(e.score), f"{h.similarity:.3f}", e.explainer)
    out.print(table)


def list_(
    model: ModelOpt = None,
    layer: LayerOpt = None,
    json_: JsonOpt = False,
    chroma_url: UrlOpt = None,
) -> None:
    """Current explanations, sorted by layer and neuron."""
    from rich.table import Table

    records = _store(chroma_url).list(model=model, layer=layer)
    if json_:
        sys.stdout.write(json.dumps([e.model_dump(mode="json") for e in records]) + "\n")
        return
    table = Table(title=f"{len(records)} explanations")
    for col in ("neuron", "model", "explanation", "score", "explainer", "prompt", "created"):
        table.add_column(col)
    for e in records:
        table.add_row(e.neuron, e.model, e.text, _score(e.score), e.explainer, e.prompt_version,
                      e.created_at.strftime("%Y-%m-%d %H:%M"))
    out.print(table)


def export(
    file: Annotated[Path, typer.Argument(help="file to write (.gz: gzipped)")],
    fmt: Annotated[str, typer.Option("--format", help="jsonl (Explanation records) or neuronpedia")] = "jsonl",
    current_only: Annotated[bool, typer.Option("--current-only", help="leave out replaced versions")] = False,
    chroma_url: UrlOpt = None,
) -> None:
    """Write the store's explanations, one JSON object per line (every version unless --current-only)."""
    from autointerp.store import export_records

    if fmt not in ("jsonl", "neuronpedia"):
        raise InputError(f"--format must be jsonl or neuronpedia, got {fmt!r}")
    n = export_records(_store(chroma_url), file, fmt, current_only=current_only)  # type: ignore[arg-type]
    err.print(f"wrote {n} explanations to {file}", highlight=False, soft_wrap=True)


def import_(
    file: Annotated[Path, typer.Argument(help="JSONL of Explanation records or Neuronpedia lines, or a JSON list")],
    chroma_url: UrlOpt = None,
) -> None:
    """Add explanations from a file. A bad line is reported with its number and skipped."""
    from autointerp.store import import_records

    res = import_records(_store(chroma_url), file)
    for line, message in res.errors:
        err.print(f"line {line}: {message}", highlight=False, markup=False, soft_wrap=True)
    if res.errors and not res.imported:
        raise InputError(f"nothing imported from {file}: all {len(res.errors)} records are malformed")
    failed = f"; {len(res.errors)} lines skipped" if res.errors else ""
    err.print(f"imported {res.imported} explanations from {file}{failed}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("search")(search)
    app.command("list")(list_)
    app.command("export")(export)
    app.command("import")(import_)
