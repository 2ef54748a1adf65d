"""The `autointerp` command: a thin typer layer over the library."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import click
import typer
from rich.console import Console

from autointerp.errors import AutointerpError, InputError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Explain the neurons of transformer language models (offline by default).")
out = Console()
err = Console(stderr=True)

ModelOpt = Annotated[Optional[str], typer.Option("--model", "-m", help="target model (default smollm2-135m)")]
CorpusOpt = Annotated[Optional[str], typer.Option("--corpus", help="embedded, a .txt/.jsonl file, or a HF dataset")]


def parse_layers(spec: str) -> list[int]:
    """`6`, `6,7`, `0-3`, or a mix."""
    layers: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        try:
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                if hi < lo:
                    raise ValueError
                layers.extend(range(lo, hi + 1))
            else:
                layers.append(int(part))
        except ValueError:
            raise InputError(f"malformed --layers {spec!r}: expected e.g. 6, 6,7 or 0-3") from None
    return sorted(set(layers))


@app.command()
def cache(
    layers: Annotated[str, typer.Option("--layers", "-l", help="layers to cache: 6 | 6,7 | 0-29")],
    model: ModelOpt = None,
    tokens: Annotated[Optional[int], typer.Option("--tokens", "-t", help="token budget (default 131072)")] = None,
    corpus: CorpusOpt = None,
) -> None:
    """Stream the corpus through the model once; keep top, random and quantile examples and stats per neuron."""
    from autointerp.cache.build import build_cache

    p = build_cache(parse_layers(layers), model=model, corpus=corpus, tokens=tokens, console=err)
    err.print(f"cached layers {layers} of {p.target.name}: {p.n_windows:,} windows of {p.settings.window} "
              f"tokens under {p.directory(0).parent}")


@app.command()
def show(
    neuron: Annotated[str, typer.Argument(help="neuron id: L6.N74, 6.74 or 6/74")],
    model: ModelOpt = None,
    corpus: CorpusOpt = None,
    html: Annotated[Optional[Path], typer.Option("--html", help="write a self-contained HTML page")] = None,
    json_: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    n: Annotated[int, typer.Option("-n", help="top examples to print")] = 20,
) -> None:
    """A neuron's stats, top examples (max token highlighted, 3 words either side), unique top tokens."""
    from autointerp.fileio import atomic_write_text
    from autointerp.records import NeuronId
    from autointerp.tools.show import neuron_examples, render_html, render_text

    nid = NeuronId.parse(neuron)
    if n < 0:
        raise InputError(f"-n must be >= 0, got {n}")
    ex = neuron_examples(nid, model, corpus, console=err)
    if html is not None:
        atomic_write_text(html, render_html(ex))
        err.print(f"wrote {html}")
    if json_:
        sys.stdout.write(ex.model_dump_json() + "\n")
    else:
        render_text(ex, out, n)


JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON object")]


def _emit_json(obj) -> None:
    sys.stdout.write(obj.model_dump_json() + "\n")


@app.command()
def probe(
    neuron: Annotated[str, typer.Argument(help="neuron id")],
    texts: Annotated[list[str], typer.Argument(help="texts to run through the model")],
    model: ModelOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Run the model on new texts; the neuron's activation on every token."""
    from autointerp.tools.probe import probe as run_probe

    res = run_probe(neuron, texts, model)
    if json_:
        return _emit_json(res)
    from rich.text import Text

    scale = max([abs(a) for r in res.records for a in r.activations[int(r.has_bos):]] + [1e-9])
    for i, rec in enumerate(res.records):
        line = Text(f"{i + 1}. max {rec.max_activation:.4f} at {rec.max_token!r}: ")
        for j, (t, a) in enumerate(zip(rec.tokens, rec.activations)):
            if j == 0 and rec.has_bos:
                continue
            shade = int(255 - 200 * max(0.0, a) / scale)
            line.append(t, style=f"on rgb(255,{shade},{shade})")
        out.print(line)
        out.print("   " + "  ".join(f"{t!r}:{a:.3f}" for t, a in zip(rec.tokens[int(rec.has_bos):], rec.activations[int(rec.has_bos):])))


@app.command()
def synonyms(
    word: Annotated[str, typer.Argument(help="a word")],
    k: Annotated[int, typer.Option("-k", help="how many")] = 5,
    source: Annotated[str, typer.Option("--source", help="both (default), minilm (meaning) or w_e (the model's embeddings)")] = "both",
    variants: Annotated[bool, typer.Option("--variants", help="keep forms of the same stem (smoother, smoothly)")] = False,
    model: ModelOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Nearest whole words (never sub-word fragments) to a word."""
    from autointerp.tools.synonyms import synonyms as near

    if source not in ("both", "minilm", "w_e"):
        raise InputError(f"--source must be both, minilm or w_e, got {source!r}")
    res = near(word, k, source, model, variants=variants)  # type: ignore[arg-type]
    if json_:
        return _emit_json(res)
    out.print(f"{'word':<20} {'score':>7} {'minilm':>7} {'w_e':>7}")
    for n in res.neighbours:
        out.print(f"{n.word:<20} {n.similarity:>7.4f} {n.minilm:>7.4f} {n.w_e:>7.4f}")


@app.command()
def substitute(
    neuron: Annotated[str, typer.Argument(help="neuron id")],
    examples: Annotated[int, typer.Option("--examples", help="top examples to test")] = 20,
    k: Annotated[int, typer.Option("-k", help="synonyms per example")] = 5,
    model: ModelOpt = None,
    corpus: CorpusOpt = None,
    json_: JsonOpt = False,
) -> None:
    """The seed paper's synonym test: swap each top example's max word for its synonyms and re-measure."""
    from rich.table import Table

    from autointerp.tools.substitute import substitute as run

    res = run(neuron, examples, k, model, corpus)
    if json_:
        return _emit_json(res)
    table = Table(title=f"{res.neuron}: substitutions (seed score {res.seed_score:.5f}, "
                        f"mean retained {res.mean_retained:.3f} over {res.n_substitutions})")
    for col in ("window", "word", "original", "substitutions (new activation)"):
        table.add_column(col)
    for e in res.examples:
        subs = e.skipped or ", ".join(f"{s.synonym} {s.activation:.3f}" for s in e.substitutions)
        table.add_row(str(e.window), repr(e.word), f"{e.original_activation:.3f}", subs)
    out.print(table)


@app.command()
def context(
    neuron: Annotated[str, typer.Argument(help="neuron id")],
    example: Annotated[int, typer.Option("--example", help="which top example (0 = the strongest)")] = 0,
    mode: Annotated[str, typer.Option("--mode", help="delete or replace each word")] = "delete",
    include_max: Annotated[bool, typer.Option("--include-max", help="also edit the max word itself")] = False,
    model: ModelOpt = None,
    corpus: CorpusOpt = None,
    html: Annotated[Optional[Path], typer.Option("--html", help="write a page with words shaded by importance")] = None,
    json_: JsonOpt = False,
) -> None:
    """Counterfactual context: edit each word of a top example and see which context the neuron needs."""
    from rich.table import Table

    from autointerp.fileio import atomic_write_text
    from autointerp.tools.context import context as run
    from autointerp.tools.context import render_context_html

    if mode not in ("delete", "replace"):
        raise InputError(f"--mode must be delete or replace, got {mode!r}")
    res = run(neuron, example, mode, include_max, model=model, corpus=corpus)  # type: ignore[arg-type]
    if html is not None:
        atomic_write_text(html, render_context_html(res))
        err.print(f"wrote {html}")
    if json_:
        return _emit_json(res)
    table = Table(title=f"{res.neuron} example {res.example}: max {res.max_token!r} = {res.original_activation:.4f}")
    for col in ("#", "word", "activation", "delta", "importance"):
        table.add_column(col)
    for w in sorted(res.words, key=lambda w: -abs(w.delta)):
        if w.edited:
            table.add_row(str(w.index), repr(w.word), f"{w.activation:.4f}", f"{w.delta:+.4f}", f"{w.importance:+.3f}")
    out.print(table)


@app.command()
def effects(
    neuron: Annotated[str, typer.Argument(help="neuron id")],
    k: Annotated[int, typer.Option("-k", help="tokens per list")] = 20,
    contexts: Annotated[int, typer.Option("--contexts", help="top contexts for ablation")] = 10,
    model: ModelOpt = None,
    corpus: CorpusOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Output side: direct logit attribution, mean ablation, activation patching."""
    from autointerp.tools.effects import effects as run

    res = run(neuron, k, contexts, model, corpus)
    if json_:
        return _emit_json(res)
    fmt = lambda items: ", ".join(f"{t.token!r} {t.value:+.3f}" for t in items) or "none"  # noqa: E731
    out.print(f"[bold]{res.neuron}[/] of {res.model}")
    out.print(f"[dim]{res.norm_handling}[/]")
    out.print(f"[bold]promoted[/]: {fmt(res.promoted)}")
    out.print(f"[bold]suppressed[/]: {fmt(res.suppressed)}")
    out.print(f"[bold]mean ablation[/] (to {res.ablation_value:.4f}, {res.ablation_contexts} top contexts): "
              f"loss on real next tokens {res.ablation_loss_change:+.5f}")
    out.print(f"  next-token probability lost most: {fmt(res.ablation_lost)}")
    out.print(f"  next-token probability gained most: {fmt(res.ablation_gained)}")
    if res.patching:
        p = res.patching
        out.print(f"[bold]patching[/] window {p.window} pos {p.position}: {p.clean_token!r} -> {p.corrupt_token!r} "
                  f"(activation {p.clean_activation:.3f} -> {p.corrupt_activation:.3f}); log p({p.predicted!r}) "
                  f"clean {p.clean_logprob:.3f}, edited {p.corrupt_logprob:.3f}, patched {p.patched_logprob:.3f}: "
                  f"{100 * p.restored:.1f}% restored")


@app.command()
def triage(
    layer: Annotated[int, typer.Option("--layer", help="layer to scan")],
    neurons: Annotated[str, typer.Option("--neurons", help="range start:end (end exclusive)")] = "0:100",
    threshold: Annotated[float, typer.Option("--threshold", help="relatedness flag threshold")] = 0.6,
    model: ModelOpt = None,
    corpus: CorpusOpt = None,
    csv_: Annotated[Optional[Path], typer.Option("--csv", help="write the table as CSV")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="write the activation plot (PNG)")] = None,
    json_: JsonOpt = False,
) -> None:
    """The seed paper's layer scan from the cache alone: relatedness, normalised activation, unique tokens."""
    from rich.table import Table

    from autointerp.tools.triage import parse_range, write_csv, write_plot
    from autointerp.tools.triage import triage as run

    res = run(layer, parse_range(neurons), threshold, model=model, corpus=corpus)
    if csv_ is not None:
        write_csv(res, csv_)
    if plot is not None:
        write_plot(res, plot)
    if json_:
        return _emit_json(res)
    table = Table(title=f"{res.model} layer {res.layer} (flag: relatedness >= {res.threshold})")
    for col in ("index", "normalised activation", "unique tokens", "relatedness"):
        table.add_column(col)
    for r in res.rows:
        style = "bold red" if r.flagged else None
        table.add_row(str(r.index), f"{r.normalised_activation:.5f}", ", ".join(repr(t) for t in r.unique_tokens[:8]),
                      f"{r.relatedness:.3f}", style=style)
    out.print(table)


@app.command()
def score(
    neuron: Annotated[str, typer.Argument(help="neuron id")],
    explanation: Annotated[str, typer.Argument(help="the explanation to score")],
    method: Annotated[str, typer.Option("--method", help="simulation, detection or counterfactual")] = "simulation",
    n: Annotated[int, typer.Option("-n", help="texts per side for detection / counterfactual")] = 5,
    simulator: Annotated[str, typer.Option("--simulator", help="embedding (offline default), lexical, llm, llm-logprob")] = "embedding",
    llm: Annotated[Optional[str], typer.Option("--llm", help="local | openai:<model> | openai-compatible:<model>@<url>")] = None,
    triggers: Annotated[Optional[str], typer.Option("--triggers", help="comma-separated trigger words/phrases")] = None,
    top: Annotated[int, typer.Option("--top", help="held-out top windows to score on")] = 5,
    random_: Annotated[int, typer.Option("--random", help="random windows to score on")] = 5,
    split: Annotated[str, typer.Option("--split", help="top-and-random or random-only")] = "top-and-random",
    model: ModelOpt = None,
    corpus: CorpusOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Score an explanation: simulate activations on held-out windows and correlate with the real ones."""
    from autointerp.scoring.simulation import simulation_score

    if method not in ("simulation", "detection", "counterfactual"):
        raise InputError(f"--method must be simulation, detection or counterfactual, got {method!r}")
    if split not in ("top-and-random", "random-only"):
        raise InputError(f"--split must be top-and-random or random-only, got {split!r}")
    trig = [t for t in (triggers or "").split(",") if t.strip()]
    chat = None
    if simulator in ("llm", "llm-logprob") or method != "simulation":
        from autointerp.llm import make_llm

        chat = make_llm(llm)
    if method == "simulation":
        res = simulation_score(neuron, explanation, simulator, trig, top, random_, split, model, corpus,  # type: ignore[arg-type]
                               llm=chat)
    else:
        from autointerp.scoring.llm_methods import counterfactual_score, detection_score

        run = detection_score if method == "detection" else counterfactual_score
        res = run(neuron, explanation, chat, n, model, corpus)
    if json_:
        return _emit_json(res)
    out.print(f"[bold]{res.neuron}[/] score [bold]{res.value:+.4f}[/] ({res.method}, simulator {res.simulator}, "
              f"{res.n_examples} {'held-out windows' if res.method != 'counterfactual' else 'generated texts'}, "
              f"{res.n_tokens} tokens, split {res.split.kind}, "
              f"LLM tokens {res.prompt_tokens} prompt + {res.completion_tokens} completion)")
    if res.per_example:
        out.print("per example: " + ", ".join("—" if c is None else f"{c:+.2f}" for c in res.per_example))
    if res.details:
        out.print("  ".join(f"{k} {v:.4f}" for k, v in res.details.items()))


def main() -> None:
    from autointerp.cache.build import CacheInterrupted

    try:
        app(standalone_mode=False)
    except CacheInterrupted as e:
        err.print(f"[yellow]{e}[/]")
        sys.exit(130)
    except AutointerpError as e:
        err.print(f"[red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except click.exceptions.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        err.print("aborted")
        sys.exit(130)


from autointerp.store.cli import register as _register_store  # noqa: E402
_register_store(app)
from autointerp.agent.cli import register as _register_agent  # noqa: E402

_register_agent(app)
from autointerp.batch.cli import register as _register_batch  # noqa: E402

_register_batch(app)
from autointerp.evals.cli import register as _register_evals  # noqa: E402

_register_evals(app)


if __name__ == "__main__":
    main()
