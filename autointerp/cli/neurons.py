"""`autointerp cache | show | probe | synonyms | substitute | context | contrast | effects | triage`: the cache and the
neuron experiment toolbox, each a thin layer over one library function."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from autointerp.cli.options import (
    RANGE_HELP,
    CorpusOpt,
    HtmlOpt,
    JsonOpt,
    Mode,
    ModelOpt,
    NeuronArg,
    Source,
    TokensOpt,
    at_least,
    dictionary_name,
    indices,
    neuron_id,
    precheck,
    workbench,
)
from autointerp.cli.output import emit_json, err, lit, note, out
from autointerp.errors import InputError


def cache(
    layers: Annotated[Optional[str], typer.Option("--layers", "-l", help=f"layers: {RANGE_HELP}")] = None,
    dictionary: Annotated[Optional[str], typer.Option("--dictionary", "-d", help="a registered dictionary's "
                                                      "latents (`autointerp sae list`)")] = None,
    model: ModelOpt = None,
    tokens: TokensOpt = None,
    corpus: CorpusOpt = None,
) -> None:
    """Stream the corpus through the model once; keep top, random and quantile examples and stats per
    unit (a layer's neurons, or a dictionary's latents)."""
    if (layers is None) == (dictionary is None):
        raise InputError("give --layers (neurons) or --dictionary (a dictionary's latents)")
    picked = indices(layers, "--layers") if layers is not None else []  # malformed: one error before loading
    precheck(model, layers=picked)
    if tokens is not None and tokens < 1:
        raise InputError(f"--tokens must be a positive number of tokens, got {tokens}")
    from autointerp.cache.build import build_cache

    units = picked
    if dictionary is not None:
        from autointerp.config import get_settings
        from autointerp.dictionaries import open_dictionary
        from autointerp.dictionaries.registry import check_name
        from autointerp.targets import load_target

        units = [open_dictionary(load_target(model, get_settings()), check_name(dictionary))]
    p = build_cache(units, model=model, corpus=corpus, tokens=tokens, console=err)
    what = f"layers {layers}" if layers is not None else f"the latents of {dictionary}"
    note(f"cached {what} of {p.target.name}: {p.n_windows:,} windows of {p.settings.window} "
         f"tokens under {p.directory(units[0]).parent}")


def show(
    neuron: NeuronArg,
    model: ModelOpt = None,
    corpus: CorpusOpt = None,
    html: HtmlOpt = None,
    json_: JsonOpt = False,
    n: Annotated[int, typer.Option("-n", help="top examples to print")] = 20,
) -> None:
    """A neuron's stats, top examples (max token highlighted, 3 words either side), unique top tokens."""
    from autointerp.fileio import atomic_write_text, check_writable
    from autointerp.records import UnitId

    nid = UnitId.parse(neuron)  # a malformed id or output path fails before the model loads
    precheck(model, nid)
    if n < 0:
        raise InputError(f"-n must be >= 0, got {n}")
    if html is not None:
        check_writable(html)
    from autointerp.tools.show import neuron_examples, render_html, render_text

    ex = neuron_examples(workbench(model, corpus), nid)
    if html is not None:
        atomic_write_text(html, render_html(ex))
        note(f"wrote {html}")
    if json_:
        emit_json(ex)
    else:
        render_text(ex, out, n)


def probe(
    neuron: NeuronArg,
    texts: Annotated[list[str], typer.Argument(help="texts to run through the model")],
    model: ModelOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Run the model on new texts; the neuron's activation on every token."""
    precheck(model, neuron_id(neuron))
    from rich.text import Text

    from autointerp.tools.probe import probe as run

    res = run(workbench(model), neuron, texts)
    if json_:
        return emit_json(res)
    scale = max([abs(a) for r in res.records for a in r.activations[int(r.has_bos):]] + [1e-9])
    for i, rec in enumerate(res.records):
        line = Text(f"{i + 1}. max {rec.max_activation:.4f} at {rec.max_token!r}: ")
        for j, (t, a) in enumerate(zip(rec.tokens, rec.activations)):
            if j == 0 and rec.has_bos:
                continue
            shade = int(255 - 200 * max(0.0, a) / scale)
            line.append(t, style=f"on rgb(255,{shade},{shade})")
        out.print(line)
        start = int(rec.has_bos)
        out.print("   " + "  ".join(f"{t!r}:{a:.3f}" for t, a in zip(rec.tokens[start:], rec.activations[start:])),
                  markup=False)


def synonyms(
    word: Annotated[str, typer.Argument(help="a word")],
    k: Annotated[int, typer.Option("-k", help="how many")] = 5,
    source: Annotated[Source, typer.Option("--source", help="both (default), minilm (meaning) or w_e "
                                           "(the model's embeddings)")] = Source.both,
    variants: Annotated[bool, typer.Option("--variants", help="keep forms of the same stem (smoother, smoothly)")] = False,
    model: ModelOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Nearest whole words (never sub-word fragments) to a word."""
    at_least(k, 1, "-k")
    from autointerp.tools.synonyms import synonyms as near

    res = near(workbench(model), word, k, source.value, variants=variants)  # type: ignore[arg-type]
    if json_:
        return emit_json(res)
    out.print(f"{'word':<20} {'score':>7} {'minilm':>7} {'w_e':>7}", markup=False)
    for nb in res.neighbours:
        out.print(f"{nb.word:<20} {nb.similarity:>7.4f} {nb.minilm:>7.4f} {nb.w_e:>7.4f}", markup=False)


def substitute(
    neuron: NeuronArg,
    examples: Annotated[int, typer.Option("--examples", help="top examples to test")] = 20,
    k: Annotated[int, typer.Option("-k", help="synonyms per example")] = 5,
    model: ModelOpt = None,
    corpus: CorpusOpt = None,
    json_: JsonOpt = False,
) -> None:
    """The seed paper's synonym test: swap each top example's max word for its synonyms and re-measure."""
    precheck(model, neuron_id(neuron))
    for flag, value in (("--examples", examples), ("-k", k)):
        at_least(value, 1, flag)
    from rich.table import Table

    from autointerp.tools.substitute import substitute as run

    res = run(workbench(model, corpus), neuron, examples, k)
    if json_:
        return emit_json(res)
    table = Table(title=lit(f"{res.neuron}: substitutions (seed score {res.seed_score:.5f}, "
                            f"mean retained {res.mean_retained:.3f} over {res.n_substitutions})"))
    for col in ("window", "word", "original", "substitutions (new activation)"):
        table.add_column(col)
    for e in res.examples:
        subs = e.skipped or ", ".join(f"{s.synonym} {s.activation:.3f}" for s in e.substitutions)
        table.add_row(str(e.window), lit(repr(e.word)), f"{e.original_activation:.3f}", lit(subs))
    out.print(table)


def context(
    neuron: NeuronArg,
    example: Annotated[int, typer.Option("--example", help="which top example (0 = the strongest)")] = 0,
    mode: Annotated[Mode, typer.Option("--mode", help="delete each word, or replace it with ' the'")] = Mode.delete,
    include_max: Annotated[bool, typer.Option("--include-max", help="also edit the max word itself")] = False,
    model: ModelOpt = None,
    corpus: CorpusOpt = None,
    html: Annotated[Optional[Path], typer.Option("--html", help="write a page with words shaded by importance")] = None,
    json_: JsonOpt = False,
) -> None:
    """Counterfactual context: edit each word of a top example and see which context the neuron needs."""
    precheck(model, neuron_id(neuron))
    at_least(example, 0, "--example")
    from rich.table import Table

    from autointerp.fileio import atomic_write_text, check_writable

    if html is not None:
        check_writable(html)  # before the model loads
    from autointerp.tools.context import context as run
    from autointerp.tools.context import render_context_html

    res = run(workbench(model, corpus), neuron, example, mode.value, include_max)  # type: ignore[arg-type]
    if html is not None:
        atomic_write_text(html, render_context_html(res))
        note(f"wrote {html}")
    if json_:
        return emit_json(res)
    table = Table(title=lit(f"{res.neuron} example {res.example}: max {res.max_token!r} = "
                            f"{res.original_activation:.4f}"),
                  caption="words after the max token are left out: the activation there reads nothing after it")
    for col in ("#", "word", "activation", "delta", "importance"):
        table.add_column(col)
    for w in sorted(res.words, key=lambda w: -abs(w.delta)):
        if w.edited:
            table.add_row(str(w.index), lit(repr(w.word)), f"{w.activation:.4f}", f"{w.delta:+.4f}",
                          f"{w.importance:+.3f}")
    out.print(table)


def contrast(
    neuron: NeuronArg,
    words: Annotated[Optional[str], typer.Option("--words", help="comma-separated peak words (default: the unit's "
                                                 "commonest whole peak words, at most 3)")] = None,
    n: Annotated[int, typer.Option("--n", "-n", help="corpus occurrences per word")] = 128,
    model: ModelOpt = None,
    corpus: CorpusOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Contrast evidence: the words before a peak word where the unit fires vs where it stays silent,
    each tested by inserting and deleting it."""
    precheck(model, neuron_id(neuron))
    at_least(n, 1, "--n")
    picked = None if words is None else [w.strip() for w in words.split(",") if w.strip()]
    if picked is not None and not picked:
        raise InputError(f"--words names no word to contrast for {neuron}")
    from rich.table import Table

    from autointerp.tools.contrast import contrast as run

    res = run(workbench(model, corpus), neuron, picked, n)
    if json_:
        return emit_json(res)
    for w in res.words:
        if not any(w.separating()):
            out.print(w.summary(), markup=False, highlight=False, soft_wrap=True)
            continue
        auroc = "" if w.topic_auroc is None else f", topic AUROC {w.topic_auroc:.2f}"
        table = Table(title=lit(f"{res.unit} on {w.word!r}: {w.firing} firing, {w.silent} silent of "
                                f"{w.occurrences} (max {res.max_activation:.3f}{auroc})"))
        for col in ("side", "word", "log-odds", "z", "topic", "firing", "silent"):
            table.add_column(col)
        for side, found in (("fire after", w.fire_after), ("silent after", w.silent_after)):
            for c in found:
                table.add_row(side, lit(c.word), f"{c.log_odds:+.3f}", f"{c.z:+.2f}", "", str(c.firing), str(c.silent))
        for side, topic in (("fires about", w.fire_topic), ("silent about", w.silent_topic)):
            for t in topic:
                table.add_row(side, lit(t.word), "", "", f"{t.alignment:+.3f}", str(t.firing), str(t.silent))
        out.print(table)
        if w.edits:
            edits = Table(title=lit(f"edits on {w.word!r}"))
            for col in ("edit", "word", "contexts", "before", "after", "flipped"):
                edits.add_column(col)
            for e in w.edits:
                edits.add_row(e.kind, lit(e.word), str(e.n), f"{e.before:.3f}", f"{e.after:.3f}", str(e.flipped))
            out.print(edits)
        out.print(w.summary(), markup=False, highlight=False, soft_wrap=True)


def effects(
    neuron: NeuronArg,
    k: Annotated[int, typer.Option("-k", help="tokens per list")] = 20,
    contexts: Annotated[int, typer.Option("--contexts", help="top contexts for ablation")] = 10,
    model: ModelOpt = None,
    corpus: CorpusOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Output side: direct logit attribution, mean ablation, activation patching."""
    precheck(model, neuron_id(neuron))
    for flag, value in (("-k", k), ("--contexts", contexts)):
        at_least(value, 1, flag)
    from autointerp.tools.effects import effects as run

    res = run(workbench(model, corpus), neuron, k, contexts)
    if json_:
        return emit_json(res)

    def fmt(items) -> str:
        return lit(", ".join(f"{t.token!r} {t.value:+.3f}" for t in items) or "none")

    out.print(f"[bold]{lit(res.neuron)}[/] of {lit(res.model)}", highlight=False)
    out.print(f"[dim]{lit(res.norm_handling)}[/]")
    out.print(f"[bold]promoted[/]: {fmt(res.promoted)}")
    out.print(f"[bold]suppressed[/]: {fmt(res.suppressed)}")
    out.print(f"[bold]mean ablation[/] (to {res.ablation_value:.4f}, {res.ablation_contexts} top contexts): "
              f"loss on real next tokens {res.ablation_loss_change:+.5f}")
    out.print(f"  next-token probability lost most: {fmt(res.ablation_lost)}")
    out.print(f"  next-token probability gained most: {fmt(res.ablation_gained)}")
    if res.patching:
        p = res.patching
        out.print("[bold]patching[/] " + lit(
            f"window {p.window} pos {p.position}: {p.clean_token!r} -> {p.corrupt_token!r} "
            f"(activation {p.clean_activation:.3f} -> {p.corrupt_activation:.3f}); log p({p.predicted!r}) "
            f"clean {p.clean_logprob:.3f}, edited {p.corrupt_logprob:.3f}, patched {p.patched_logprob:.3f}: "
            f"{100 * p.restored:.1f}% restored"))


def triage(
    layer: Annotated[Optional[int], typer.Option("--layer", help="layer to scan")] = None,
    dictionary: Annotated[Optional[str], typer.Option("--dictionary", "-d", help="scan a registered dictionary's "
                                                      "latents instead (counts dead and rare ones)")] = None,
    neurons: Annotated[str, typer.Option("--neurons", help=f"neuron (or latent) indices: {RANGE_HELP}")] = "0:100",
    threshold: Annotated[float, typer.Option("--threshold", help="relatedness flag threshold")] = 0.6,
    model: ModelOpt = None,
    corpus: CorpusOpt = None,
    csv_: Annotated[Optional[Path], typer.Option("--csv", help="write the table as CSV")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="write the activation plot (PNG)")] = None,
    json_: JsonOpt = False,
) -> None:
    """The seed paper's layer scan from the cache alone: relatedness, normalised activation, unique tokens."""
    from rich.table import Table

    from autointerp.fileio import check_writable

    if layer is None and dictionary is None:
        raise InputError("give --layer (its neurons) or --dictionary (a dictionary's latents)")
    picked = indices(neurons, "--neurons")  # malformed or out of range: fails before the model loads
    if dictionary is None:
        precheck(model, layers=[layer], neurons=picked)
    else:
        dictionary_name(dictionary)
        precheck(model, layers=[] if layer is None else [layer])
    for path in (csv_, plot):
        if path is not None:
            check_writable(path)
    from autointerp.records import RARE_WINDOWS
    from autointerp.tools.triage import triage as run
    from autointerp.tools.triage import write_csv, write_plot

    wb = workbench(model, corpus)
    if dictionary is None:
        _announce_build(wb, layer)
    res = run(wb, layer, picked, threshold, dictionary=dictionary)
    if csv_ is not None:
        write_csv(res, csv_)
    if plot is not None:
        write_plot(res, plot)
    if json_:
        return emit_json(res)
    what = f"layer {res.layer}" if res.dictionary is None else f"{res.layer}-{res.dictionary}"
    table = Table(title=lit(f"{res.model} {what} (flag: relatedness >= {res.threshold})"))
    latents = res.dictionary is not None
    for col in ("index", "normalised activation", "unique tokens", "relatedness") + (("frequency", "status") * latents):
        table.add_column(col)
    for r in res.rows:
        style = "bold red" if r.flagged else "dim" if r.activity in ("dead", "rare") else None
        extra = (f"{r.frequency:.3g}", r.activity or "") if latents else ()
        table.add_row(str(r.index), f"{r.normalised_activation:.5f}", lit(", ".join(repr(t) for t in r.unique_tokens[:8])),
                      f"{r.relatedness:.3f}", *extra, style=style)
    out.print(table)
    if latents:
        out.print(f"{len(res.rows)} latents: {res.dead} dead (never fire), {res.rare} rare (fire in fewer than "
                  f"{RARE_WINDOWS} windows), {len(res.rows) - (res.dead or 0) - (res.rare or 0)} live", highlight=False)


def _announce_build(wb, layer: int) -> None:
    """Say so before a missing cache is built (it takes a while): one line, then the progress bar."""
    from autointerp.errors import CacheError

    try:
        wb.layer(layer, build=False)
    except CacheError:
        note(f"layer {layer} of {wb.model} has no complete cache: building it first "
             f"({wb.settings.tokens:,} corpus tokens, once; `autointerp cache --layers {layer}` does it ahead)")
        wb.layer(layer)


def register(app: typer.Typer) -> None:
    for command in (cache, show, probe, synonyms, substitute, context, contrast, effects, triage):
        app.command()(command)
