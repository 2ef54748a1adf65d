"""`autointerp search | list | export | import` and `autointerp store rebuild-index`: the explanation store."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from autointerp.cli.options import ChromaUrlOpt, ConfidentOpt, ExportFormat, Kind, dictionary_name
from autointerp.cli.output import lit, note, out

FilterModelOpt = Annotated[Optional[str], typer.Option("--model", "-m", help="only this target model")]
LayerOpt = Annotated[Optional[int], typer.Option("--layer", "-l", help="only this layer")]
JsonListOpt = Annotated[bool, typer.Option("--json", help="print one JSON list")]
KindOpt = Annotated[Optional[Kind], typer.Option("--kind", help="only neurons, or only dictionary latents")]
DictionaryOpt = Annotated[Optional[str], typer.Option("--dictionary", "-d", help="only this dictionary's latents "
                                                      "(e.g. res4k)")]


def _units(kind: Kind | None, dictionary: str | None) -> dict:
    """The unit filters as the store takes them; a malformed name or a contradiction is one error."""
    from autointerp.errors import InputError

    if dictionary is not None:
        dictionary_name(dictionary)
        if kind is not None and kind.value == "neuron":
            raise InputError("--kind neuron and --dictionary contradict each other: a dictionary holds latents")
    return {"kind": None if kind is None else kind.value, "dictionary": dictionary}


def _store(url: str | None):
    from autointerp.store import open_store

    return open_store(url=url)


FILL_HINT = ("fill it with `autointerp explain L6.N74` (one neuron), `autointerp batch --layers 6` (a layer) or "
             "`autointerp import FILE`")


def _nothing_found(store, what: str) -> None:
    """Why a listing is empty, on stderr (stdout keeps its table or a clean `[]`)."""
    if store.count() == 0:
        note(f"the store is empty: {FILL_HINT}")
    else:
        note(f"no stored explanation {what} ({store.count()} in the store)")


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:+.3f}"


def _confident(flag: bool) -> str:
    return "yes" if flag else "no"


def search(
    query: Annotated[str, typer.Argument(help="what the neurons should be about, in words")],
    model: FilterModelOpt = None,
    layer: LayerOpt = None,
    min_score: Annotated[Optional[float], typer.Option("--min-score", help="only explanations scoring at least this")] = None,
    k: Annotated[int, typer.Option("-k", help="how many hits")] = 10,
    confident: ConfidentOpt = None,
    kind: KindOpt = None,
    dictionary: DictionaryOpt = None,
    json_: JsonListOpt = False,
    chroma_url: ChromaUrlOpt = None,
) -> None:
    """Stored explanations nearest in meaning to a query (MiniLM cosine), best first."""
    from rich.table import Table

    from autointerp.errors import InputError

    if not query.strip():  # before the store loads; Store.search checks both again
        raise InputError("empty search query")
    if k < 1:
        raise InputError(f"-k must be >= 1, got {k}")
    units = _units(kind, dictionary)
    store = _store(chroma_url)
    # an empty store has nothing to rank: the query is not even embedded
    hits = [] if store.count() == 0 else store.search(query, model=model, layer=layer, min_score=min_score, k=k,
                                                           confident=confident, **units)
    if not hits:
        _nothing_found(store, "matches the filters")
    if json_:
        sys.stdout.write(json.dumps([h.model_dump(mode="json") for h in hits]) + "\n")
        return
    if not hits:
        return
    table = Table(title=lit(f"{len(hits)} explanations nearest to {query!r}"))
    for col in ("#", "neuron", "model", "explanation", "score", "confident", "similarity", "explainer"):
        table.add_column(col)
    for i, h in enumerate(hits, 1):
        e = h.explanation
        table.add_row(str(i), lit(e.neuron), lit(e.model), lit(e.text), _score(e.score), _confident(e.confident),
                      f"{h.similarity:.3f}", lit(e.explainer))
    out.print(table)


def list_(
    model: FilterModelOpt = None,
    layer: LayerOpt = None,
    confident: ConfidentOpt = None,
    kind: KindOpt = None,
    dictionary: DictionaryOpt = None,
    json_: JsonListOpt = False,
    chroma_url: ChromaUrlOpt = None,
) -> None:
    """Current explanations, sorted by layer and neuron."""
    from rich.table import Table

    units = _units(kind, dictionary)
    store = _store(chroma_url)
    records = store.list(model=model, layer=layer, confident=confident, **units)
    if not records:
        _nothing_found(store, "matches the filters")
    if json_:
        sys.stdout.write(json.dumps([e.model_dump(mode="json") for e in records]) + "\n")
        return
    if not records:
        return
    table = Table(title=f"{len(records)} explanations")
    for col in ("neuron", "model", "explanation", "score", "confident", "explainer", "prompt", "created"):
        table.add_column(col)
    for e in records:
        table.add_row(lit(e.neuron), lit(e.model), lit(e.text), _score(e.score), _confident(e.confident),
                      lit(e.explainer), lit(e.prompt_version), e.created_at.strftime("%Y-%m-%d %H:%M"))
    out.print(table)


def export(
    file: Annotated[Path, typer.Argument(help="file to write (.gz: gzipped)")],
    fmt: Annotated[ExportFormat, typer.Option("--format", help="jsonl (Explanation records) or neuronpedia")]
    = ExportFormat.jsonl,
    current_only: Annotated[bool, typer.Option("--current-only", help="leave out replaced versions")] = False,
    chroma_url: ChromaUrlOpt = None,
) -> None:
    """Write the store's explanations, one JSON object per line (every version unless --current-only)."""
    from autointerp.fileio import check_writable
    from autointerp.store import export_records

    check_writable(file)  # before the store is read
    n = export_records(_store(chroma_url), file, fmt.value, current_only=current_only)  # type: ignore[arg-type]
    note(f"wrote {n} explanations to {file}")


def import_(
    file: Annotated[Path, typer.Argument(help="JSONL of Explanation records or Neuronpedia lines, or a JSON list")],
    chroma_url: ChromaUrlOpt = None,
) -> None:
    """Add explanations from a file, all or nothing: a file with a bad line imports nothing and its
    one error names the first bad line and the numbers of the others."""
    from autointerp.config import get_settings
    from autointerp.store.transfer import add_records, read_records

    records = read_records(file, get_settings())  # the whole file is checked before the store opens
    res = add_records(_store(chroma_url), [e for _, e in records])
    note(f"imported {res.imported} explanations from {file}")


def rebuild_index() -> None:
    """Rebuild the local store's search index from its record ledger (after a damaged-store error).
    Chroma's old files are moved aside, never deleted."""
    from autointerp.config import get_settings
    from autointerp.store import damaged_copies
    from autointerp.store import rebuild_index as rebuild

    settings = get_settings()
    before = set(damaged_copies(settings))
    n = rebuild(settings)
    moved = [p for p in damaged_copies(settings) if p not in before]
    where = f"the old index files were moved to {moved[-1]}" if moved else "there were no old index files to move"
    note(f"re-indexed {n} records (current and replaced versions) from the ledger of {settings.data_dir / 'store'}; "
         f"{where}")


def register(app: typer.Typer) -> None:
    app.command("search")(search)
    app.command("list")(list_)
    app.command("export")(export)
    app.command("import")(import_)
    group = typer.Typer(no_args_is_help=True, help="Maintain the local explanation store.")
    group.command("rebuild-index")(rebuild_index)
    app.add_typer(group, name="store")
