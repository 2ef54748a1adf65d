"""`autointerp sae add | list`: dictionaries (SAEs, transcoders) whose latents the other commands
take as units (`6-res4k/1764`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from autointerp.cli.options import CorpusOpt, JsonOpt, ModelOpt, precheck
from autointerp.cli.output import err, lit, note, out
from autointerp.records import DictionarySite

JsonListOpt = Annotated[bool, typer.Option("--json", help="print one JSON list")]


def add(
    path: Annotated[Path, typer.Argument(help="a sparsify folder (run or hookpoint) or a SAELens folder")],
    name: Annotated[str, typer.Option("--name", "-n", help="its name in latent ids: lowercase letters, digits, "
                                      "dashes (6-NAME/17)")],
    hookpoint: Annotated[Optional[str], typer.Option("--hookpoint", help="which subfolder of a sparsify run "
                                                     "folder (e.g. layers.6)")] = None,
    model: ModelOpt = None,
) -> None:
    """Register a dictionary someone trained: checked against the model, then copied into the data dir."""
    from autointerp.config import get_settings
    from autointerp.dictionaries import add_dictionary
    from autointerp.dictionaries.registry import check_name
    from autointerp.targets import load_target

    check_name(name)  # before the model loads
    settings = get_settings()
    info = add_dictionary(load_target(model, settings), settings.layout, path, name, hookpoint)
    err.print(f"registered [bold]{lit(info.name)}[/]: {info.layout} {info.site} dictionary of layer {info.layer} "
              f"({info.n_latents:,} latents); its latents are {lit(info.source_id)}/0 .. "
              f"{lit(info.source_id)}/{info.n_latents - 1}", highlight=False)


def list_(model: ModelOpt = None, json_: JsonListOpt = False) -> None:
    """The dictionaries registered for a model: layout, layer, hook, latents, k or threshold, and
    held-out FVU, L0 and dead fraction where known."""
    from rich.table import Table

    from autointerp.config import get_settings
    from autointerp.dictionaries import list_dictionaries

    settings = get_settings()
    name = model or settings.model
    found = list_dictionaries(settings.layout, name)
    if json_:
        sys.stdout.write(json.dumps([i.model_dump(mode="json") for i in found]) + "\n")
        return
    if not found:
        note(f"no dictionaries registered for {name}: add one with `autointerp sae add PATH --name NAME`")
        return
    table = Table("name", "layout", "site", "layer", "hook", "latents", "k / threshold", "fvu", "l0", "dead")
    fmt = lambda v, f: "—" if v is None else format(v, f)  # noqa: E731
    for i in found:
        table.add_row(lit(i.name), i.layout, i.site, str(i.layer), lit(i.hook), f"{i.n_latents:,}", i.sparsity,
                      fmt(i.fvu, ".3f"), fmt(i.l0, ".1f"), fmt(i.dead_fraction, ".1%"))
    out.print(table)


def train(
    layer: Annotated[int, typer.Option("--layer", "-l", help="the layer whose hook point it reads")],
    name: Annotated[str, typer.Option("--name", "-n", help="its name in latent ids (6-NAME/17)")],
    site: Annotated[DictionarySite, typer.Option("--site", help="resid: the residual stream after the layer; "
                                                 "mlp-out: the MLP's output; transcoder: MLP input → output")] = "resid",
    latents: Annotated[int, typer.Option("--latents", help="dictionary size")] = 4096,
    k: Annotated[int, typer.Option("--k", help="active latents per token (TopK)")] = 32,
    tokens: Annotated[int, typer.Option("--tokens", "-t", help="training tokens")] = 500_000,
    held_out_tokens: Annotated[int, typer.Option("--held-out-tokens", help="tokens at the corpus's end kept "
                                                 "for the held-out FVU, L0 and dead fraction")] = 65_536,
    batch_tokens: Annotated[int, typer.Option("--batch-tokens", help="tokens per optimiser step")] = 1024,
    lr: Annotated[Optional[float], typer.Option("--lr", help="Adam's peak learning rate (default: sparsify's "
                                                "rule for the dictionary size, scaled for small batches)")] = None,
    auxk_alpha: Annotated[float, typer.Option("--auxk-alpha", help="weight of the AuxK loss on dead "
                                              "latents")] = 1 / 32,
    dead_tokens: Annotated[int, typer.Option("--dead-tokens", help="silent this many tokens: dead, for "
                                             "AuxK")] = 50_000,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    model: ModelOpt = None,
    corpus: CorpusOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Train a TopK dictionary (EleutherAI sparsify's SparseCoder) on activations streamed through the
    model, then register it. Checkpointed: after Ctrl-C or kill -9 the same command resumes."""
    from autointerp.config import get_settings
    from autointerp.dictionaries.registry import check_name
    from autointerp.dictionaries.train import make_spec, train_dictionary
    from autointerp.targets import load_target

    check_name(name)
    precheck(model, layers=[layer])
    settings = get_settings()
    if corpus is not None:
        settings = settings.model_copy(update={"corpus": corpus})
    target = load_target(model, settings)
    spec, windows = make_spec(target, settings, name, site, layer, latents, k, tokens, held_out_tokens,
                              batch_tokens, lr, auxk_alpha, dead_tokens, seed)
    info, report = train_dictionary(target, settings, spec, windows, console=err)
    if json_:
        sys.stdout.write(json.dumps({"dictionary": info.model_dump(mode="json"),
                                     "train": report.model_dump(mode="json")}) + "\n")
        return
    note(f"{info.name}: held-out FVU {report.fvu:.3f}, L0 {report.l0:.1f}, dead {report.dead_fraction:.1%} "
         f"on {spec.held_out_tokens:,}+ tokens; {report.tokens_trained:,} tokens in {report.seconds / 60:.1f} min "
         f"({report.tokens_per_second:,.0f} tok/s); its latents are {info.source_id}/0 .. "
         f"{info.source_id}/{info.n_latents - 1}")


def register(app: typer.Typer) -> None:
    group = typer.Typer(no_args_is_help=True, help="Dictionaries (SAEs, transcoders) whose latents are units.")
    group.command("add")(add)
    group.command("list")(list_)
    group.command("train")(train)
    app.add_typer(group, name="sae")
